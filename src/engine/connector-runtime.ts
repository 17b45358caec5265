/**
 * What a connector needs at run time, built from its registered config: its source
 * (credential resolved here, in the process that uses it), its sink, and its schemas.
 */
import type { ConnectorConfig } from '../config/connector-schema.ts';
import { DEFAULT_PORTS, sourceIdentity } from '../config/source-identity.ts';
import type { Logger } from '../log.ts';
import { resolveSecret, type SecretStoreLookup } from '../secrets/resolve-secret.ts';
import { reachDestination, sourceDestination } from '../secrets/secret-binding.ts';
import { registerSecret } from '../secrets/secret-registry.ts';
import { ReachApiClient, type ReachTarget } from '../sinks/reach-api/reach-api-client.ts';
import { ReachApiSink } from '../sinks/reach-api/reach-api-sink.ts';
import type { Sink, StateStore } from '../sinks/sink.ts';
import { StoreSink } from '../sinks/store/store-sink.ts';
import type { ConnectionSettings } from '../sources/connection-settings.ts';
import { readFile } from 'node:fs/promises';
import { storeSecretLookup } from '../secrets/secret-store.ts';
import { assertHostAllowed, networkPolicy } from '../security/network-policy.ts';
import { reachEgress } from '../security/reach-egress.ts';
import { assertReadOnlyCredential } from '../security/privilege-policy.ts';
import { openSource } from '../sources/source-pools.ts';
import type { Source } from '../sources/source.ts';

export interface RuntimeEnv {
  env?: NodeJS.ProcessEnv;
  secretStore?: SecretStoreLookup;
}

/** The runtime of a process with a state store: `${secret:NAME}` resolves from its secrets. */
export function storeRuntime(store: StateStore, runtime: RuntimeEnv = {}): RuntimeEnv {
  return { secretStore: storeSecretLookup(store, runtime.env), ...runtime };
}

/**
 * Opens a connector's source: the host must pass the network policy first (every time,
 * since DNS answers change), and with `require_read_only_user` a credential that can
 * write is refused before any read.
 */
export async function openConnectorSource(config: ConnectorConfig, runtime: RuntimeEnv = {}): Promise<Source> {
  const settings = await connectionSettings(config, runtime);
  await assertHostAllowed(settings.host, settings.networkPolicy);
  const source = openSource(settings);
  if (!config.source.require_read_only_user) return source;
  try {
    assertReadOnlyCredential(await source.inspectPrivileges(), sourceIdentity(settings));
    return source;
  } catch (error) {
    await source.close();
    throw error;
  }
}

// A registered connector's config carries its id (connector-registry.ts); a file's may not.
const connectorName = (config: ConnectorConfig) => config.id ?? `of tenant ${config.tenant}`;

/** Connection settings of a connector's source, its password resolved where its binding allows. */
export async function connectionSettings(config: ConnectorConfig, runtime: RuntimeEnv = {}): Promise<ConnectionSettings> {
  const s = config.source;
  return {
    dialect: s.dialect,
    host: s.host,
    port: s.port ?? DEFAULT_PORTS[s.dialect],
    database: s.database,
    user: s.user,
    password: await resolveSecret(s.password, {
      ...runtime, tenant: config.tenant,
      use: { connector: connectorName(config), field: 'source.password', destination: sourceDestination(s) },
    }),
    timezone: s.timezone,
    ssl: { mode: s.ssl.mode, ca: s.ssl.ca ? await readFile(s.ssl.ca, 'utf8') : undefined },
    maxConnections: s.max_connections,
    statementTimeoutSeconds: s.statement_timeout_seconds,
    connectTimeoutSeconds: s.connect_timeout_seconds,
    passwordAuth: s.password_auth,
    networkPolicy: networkPolicy(runtime.env ?? process.env),
  };
}

/** The Reach API a connector delivers to (checked by security/reach-egress.ts), or undefined for the built-in store. */
export async function reachTarget(config: ConnectorConfig, runtime: RuntimeEnv = {}): Promise<ReachTarget | undefined> {
  const target = await reachEgress(config.reach, runtime.env ?? process.env, (reference, apiUrl) => resolveSecret(reference, {
    ...runtime, tenant: config.tenant,
    use: { connector: connectorName(config), field: 'reach.token', destination: reachDestination(apiUrl) },
  }));
  if (target) registerSecret(target.token);
  return target;
}

// One client for the process: clients derived with `withTarget` share its concurrency
// limits, so the per-tenant and overall caps hold across every connector.
let sharedClient: ReachApiClient | undefined;

/** The sink for a connector: the Reach API when one is configured, else the built-in store. */
export function createSink(target: ReachTarget | undefined, log: Logger): Sink {
  if (!target) return new StoreSink();
  sharedClient ??= new ReachApiClient({ ...target, logger: log });
  return new ReachApiSink({ client: sharedClient.withTarget(target), log });
}
