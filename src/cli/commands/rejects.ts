import type { Command } from 'commander';
import { findStream } from '../../engine/stream-plan.ts';
import { getConnector } from '../../store/connector-registry.ts';
import { listRejections } from '../../store/delivery-state.ts';
import { withStore } from '../context.ts';
import { printJson, printTable } from '../output.ts';

export function registerRejects(program: Command): void {
  program
    .command('rejects')
    .description('List quarantined records of a connector: the reason, the field(s), the source row')
    .argument('<connector>', 'connector id')
    .option('--stream <name>', 'only this stream')
    .option('--all', 'include entries already resolved')
    .option('--json', 'print the entries as JSON')
    .action(async (id: string, opts: { stream?: string; all?: boolean; json?: boolean }) => {
      const entries = await withStore(async (store) => {
        const connector = await getConnector(store.db, id);
        if (opts.stream) findStream(connector, opts.stream);
        return listRejections(store.db, id, { stream: opts.stream, all: opts.all });
      });
      if (opts.json) {
        printJson(entries);
        return;
      }
      printTable(entries.map((e) => ({
        stream: e.stream, external_id: e.externalId, key: JSON.stringify(e.sourceKey), cursor: e.sourceCursor,
        fields: e.fields.join(','), reason: e.reason, run: e.runId, time: e.createdAt.toISOString(),
        ...(opts.all ? { resolved: e.resolvedAt?.toISOString() ?? null } : {}),
      })), ['stream', 'external_id', 'key', 'cursor', 'fields', 'reason', 'run', 'time', ...(opts.all ? ['resolved'] : [])]);
    });
}
