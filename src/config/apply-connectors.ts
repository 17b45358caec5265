/**
 * What registering connectors means, whoever asks (`apply`, or the ops API's PUT): every
 * source host through the network policy, every stream's schema and mapping against the
 * catalog (plus the schema files beside applied directories), then registration of all of
 * them in one transaction, or none. One path, so the API can accept nothing `apply` refuses.
 */
import type { Kysely, Transaction } from 'kysely';
import { ConfigError } from '../errors.ts';
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
