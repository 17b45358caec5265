import type { Command } from 'commander';
import { withStore } from '../context.ts';
import { printJson, printTable } from '../output.ts';

export function registerResources(program: Command): void {
  program
    .command('resources')
    .description('Read back what the built-in store holds for a tenant')
    .argument('<tenant>', 'tenant external id')
    .requiredOption('--schema <name>', 'Reach schema name')
    .option('--limit <n>', 'at most this many records', '100')
    .option('--json', 'print as JSON')
    .action(async (tenant: string, opts: { schema: string; limit: string; json?: boolean }) => {
      const rows = await withStore((store) =>
        store.db.selectFrom('resources').select(['external_id', 'body', 'version', 'updated_at'])
          .where('tenant_id', '=', tenant).where('schema_name', '=', opts.schema).where('deleted', '=', false)
          .orderBy('external_id').limit(Number(opts.limit)).execute());
      if (opts.json) printJson(rows.map((r) => r.body));
      else printTable(rows.map((r) => ({ external_id: r.external_id, version: r.version, body: JSON.stringify(r.body) })), ['external_id', 'version', 'body']);
    });
}
