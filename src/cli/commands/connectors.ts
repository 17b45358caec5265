import type { Command } from 'commander';
import { withStore } from '../context.ts';
import { printJson, printTable } from '../output.ts';

export function registerConnectorsCommands(program: Command): void {
  const connectors = program.command('connectors').description('Show registered connectors');
  connectors
    .command('list')
    .description('List registered connectors')
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean }) => {
      const { listConnectors } = await import('../../store/connector-registry.ts');
      const list = await withStore((store) => listConnectors(store.db));
      const rows = list.map((c) => ({
        id: c.id, tenant: c.tenant, source: c.sourceId, schedule: c.config.schedule ?? null,
        streams: c.config.streams.map((s) => s.name).join(','), enabled: c.enabled,
      }));
      if (opts.json) printJson(rows);
      else printTable(rows, ['id', 'tenant', 'source', 'schedule', 'streams', 'enabled']);
    });
  connectors
    .command('show')
    .description('Show one connector as registered (secrets as their reference)')
    .argument('<id>')
    .action(async (id: string) => {
      const { getConnector } = await import('../../store/connector-registry.ts');
      const c = await withStore((store) => getConnector(store.db, id));
      printJson({ id: c.id, tenant: c.tenant, source: c.sourceId, enabled: c.enabled, file: c.file, updatedAt: c.updatedAt, config: c.config });
    });
}
