import type { Command } from 'commander';
import { loadConnectors, type LoadedConnector } from '../../config/load-connectors.ts';
import { ConfigError } from '../../errors.ts';
import { connectorHostProblems, networkPolicy } from '../../security/network-policy.ts';
import { registerConnectors } from '../../store/connector-registry.ts';
import { loadSchemaCatalog, registerSchemaDefinitions } from '../../store/schema-registry.ts';
import { loadAppliedSchemas, mappingProblems } from '../../config/check-applied-mappings.ts';
import type { SchemaDefinition } from '../../mapping/schema-definitions.ts';
import type { Transaction } from 'kysely';
import type { StateStore } from '../../sinks/sink.ts';
import type { StoreSchema } from '../../store/schema.ts';
import { withStore } from '../context.ts';
import { printJson } from '../output.ts';

export function registerApply(program: Command): void {
  program
    .command('apply')
    .description('Validate connector files and register them, all or nothing')
    .argument('<paths...>', 'connector files or directories of *.yaml')
    .option('--dry-run', 'validate only; register nothing')
    .option('--json', 'print the result as JSON')
    .action(async (paths: string[], opts: { dryRun?: boolean; json?: boolean }) => {
      const connectors = await loadConnectors(paths);
      // A refused host fails the apply; one that does not resolve yet is checked at connect.
      const hosts = await connectorHostProblems(connectors, networkPolicy());
      if (hosts.problems.length > 0) throw new ConfigError(hosts.problems);
      for (const warning of hosts.warnings) process.stderr.write(`warning: ${warning}\n`);
      if (opts.dryRun) {
        await withStore((store) => checkSchemasAndMappings(store.db, paths, connectors));
        const ids = connectors.map((c) => c.id);
        if (opts.json) printJson({ valid: ids });
        else process.stdout.write(`${ids.length} connector file(s) valid: ${ids.join(', ')} (dry run: nothing registered)\n`);
        return;
      }
      const result = await withStore((store) => registerConnectors(store.db, connectors, async (trx) => {
        // In the connectors' transaction: a bad schema file or mapping registers nothing.
        await registerSchemaDefinitions(trx, await checkSchemasAndMappings(trx, paths, connectors));
      }));
      if (opts.json) printJson(result);
      else {
        process.stdout.write(
          `created ${result.created.length}, updated ${result.updated.length}, unchanged ${result.unchanged.length}\n`,
        );
        for (const id of result.created) process.stdout.write(`  + ${id}\n`);
        for (const id of result.updated) process.stdout.write(`  ~ ${id}\n`);
      }
    });
}

/**
 * Loads `<dir>/schemas/*.json` of the applied directories over the registered catalog and
 * checks every stream's mapping against it; throws every problem at once. Returns the
 * definitions to register.
 */
async function checkSchemasAndMappings(
  db: StateStore | Transaction<StoreSchema>,
  paths: string[],
  connectors: LoadedConnector[],
): Promise<SchemaDefinition[]> {
  const applied = await loadAppliedSchemas(paths, (await loadSchemaCatalog(db)).definitions);
  const problems = [...applied.problems, ...(await mappingProblems(connectors, applied.catalog))];
  if (problems.length > 0) throw new ConfigError(problems);
  return applied.definitions;
}
