/**
 * What registering connectors means, whoever asks (`apply`, or the ops API's PUT): every
 * source host through the network policy, every stored secret a source or Reach block
 * references bound to where that block sends it, every stream's schema and mapping against the
 * catalog (plus the schema files beside applied directories), then registration of all of
 * them in one transaction, or none. One path, so the API can accept nothing `apply` refuses.
 */
import type { Kysely, Transaction } from 'kysely';
import { ConfigError, type ConfigProblem } from '../errors.ts';
import { bindingRefusal, reachDestination, sourceDestination, type SecretUse } from '../secrets/secret-binding.ts';
import { secretBindings } from '../secrets/secret-store.ts';
import { SECRET_REFERENCE } from './connector-schema.ts';
import type { SchemaDefinition } from '../mapping/schema-definitions.ts';
import { connectorHostProblems, networkPolicy } from '../security/network-policy.ts';
import { registerConnectors, type ApplyResult } from '../store/connector-registry.ts';
import type { StoreSchema } from '../store/schema.ts';
import { loadSchemaCatalog, registerSchemaDefinitions } from '../store/schema-registry.ts';
import { loadAppliedSchemas, mappingProblems } from './check-applied-mappings.ts';
import type { LoadedConnector } from './load-connectors.ts';

export interface ApplyOptions {
  /** The applied paths, whose `schemas/` directories hold schema files (none for the API). */
  paths?: string[];
  /** Validate only; register nothing. */
  dryRun?: boolean;
  env?: NodeJS.ProcessEnv;
}

/** Validates and registers; throws one ConfigError with every problem. Warnings are for the operator. */
export async function applyConnectors(db: Kysely<StoreSchema>, connectors: LoadedConnector[], options: ApplyOptions = {}): Promise<{ result?: ApplyResult; warnings: string[] }> {
  // A refused host fails the apply; one that does not resolve yet is checked at connect.
  const hosts = await connectorHostProblems(connectors, networkPolicy(options.env ?? process.env));
  if (hosts.problems.length > 0) throw new ConfigError(hosts.problems);
  const secrets = await secretBindingProblems(db, connectors, options.env ?? process.env);
  if (secrets.length > 0) throw new ConfigError(secrets, 'RP_SECRET_FORBIDDEN');
  const paths = options.paths ?? [];
  if (options.dryRun) {
    await checkSchemasAndMappings(db, paths, connectors);
    return { warnings: hosts.warnings };
  }
  const result = await registerConnectors(db, connectors, async (trx) => {
    // In the connectors' transaction: a bad schema file or mapping registers nothing.
    await registerSchemaDefinitions(trx, await checkSchemasAndMappings(trx, paths, connectors));
  });
  return { result, warnings: hosts.warnings };
}

/**
 * Loads `<dir>/schemas/*.json` of the applied directories over the registered catalog and
 * checks every stream's mapping against it; throws every problem at once. Returns the
 * definitions to register.
 */
async function checkSchemasAndMappings(db: Kysely<StoreSchema> | Transaction<StoreSchema>, paths: string[], connectors: LoadedConnector[]): Promise<SchemaDefinition[]> {
  const applied = await loadAppliedSchemas(paths, (await loadSchemaCatalog(db)).definitions);
  const problems = [...applied.problems, ...(await mappingProblems(connectors, applied.catalog))];
  if (problems.length > 0) throw new ConfigError(problems);
  return applied.definitions;
}

/**
 * Stored secrets referenced where their binding does not allow (or unbound): refused at
 * registration so the author hears it now. This reads bindings without the master key; the
 * check that counts runs when the secret is opened (resolve-secret.ts), against the binding
 * its seal authenticates. A secret not stored yet is checked then too.
 */
async function secretBindingProblems(db: Kysely<StoreSchema>, connectors: LoadedConnector[], env: NodeJS.ProcessEnv): Promise<ConfigProblem[]> {
  const uses: { file: string; name: string; use: SecretUse }[] = [];
  for (const c of connectors) {
    const add = (reference: string | undefined, field: SecretUse['field'], destination: string | undefined) => {
      const match = reference === undefined ? null : SECRET_REFERENCE.exec(reference);
      if (match?.[1] === 'secret' && destination !== undefined) uses.push({ file: c.file, name: match[2]!, use: { connector: c.id, field, destination } });
    };
    add(c.config.source.password, 'source.password', sourceDestination(c.config.source));
    // Without its own URL a connector's token goes to REACH_API_URL, as this process sees it.
    const reachUrl = c.config.reach?.api_url ?? (env.REACH_API_URL || undefined);
    add(c.config.reach?.token, 'reach.token', reachUrl === undefined ? undefined : reachDestination(reachUrl));
  }
  const bindings = await secretBindings(db, [...new Set(uses.map((u) => u.name))]);
  const problems: ConfigProblem[] = [];
  for (const { file, name, use } of uses) {
    if (!bindings.has(name)) continue;
    const reason = bindingRefusal(name, bindings.get(name)!, use);
    if (reason) problems.push({ file, path: use.field, message: reason });
  }
  return problems;
}
