import type { Command } from 'commander';
import { REJECTS_LIST } from '../../store/keyset-page.ts';
import { withStore } from '../context.ts';
import { printJson, printTable } from '../output.ts';
import { cliPageRequest, pageOptions, printNextPage, type PageOptions } from '../paging.ts';

export function registerRejects(program: Command): void {
  pageOptions(program
    .command('rejects')
    .description('List quarantined records of a connector, a page at a time: the reason, the field(s), the source row')
    .argument('<connector>', 'connector id')
    .option('--stream <name>', 'only this stream')
    .option('--all', 'include entries already resolved'))
    .option('--json', 'print the page as JSON: { items, next }')
    .action(async (id: string, opts: PageOptions & { stream?: string; all?: boolean; json?: boolean }) => {
      const request = cliPageRequest(REJECTS_LIST, opts);
      const { findStream } = await import('../../engine/stream-plan.ts');
      const { getConnector } = await import('../../store/connector-registry.ts');
      const { listRejectionPage } = await import('../../store/delivery-state.ts');
      const page = await withStore(async (store) => {
        const connector = await getConnector(store.db, id);
        if (opts.stream) findStream(connector, opts.stream);
        return listRejectionPage(store.db, id, { stream: opts.stream, all: opts.all }, request);
      }, `GET /connectors/${id}/rejects`);
      if (opts.json) {
        printJson(page);
        return;
      }
      printTable(page.items.map((e) => ({
        stream: e.stream, external_id: e.externalId, key: JSON.stringify(e.sourceKey), cursor: e.sourceCursor,
        fields: e.fields.join(','), reason: e.reason, run: e.runId, time: e.createdAt.toISOString(),
        ...(opts.all ? { resolved: e.resolvedAt?.toISOString() ?? null } : {}),
      })), ['stream', 'external_id', 'key', 'cursor', 'fields', 'reason', 'run', 'time', ...(opts.all ? ['resolved'] : [])]);
      printNextPage(page.next, ['rejects', id, ...(opts.stream ? ['--stream', opts.stream] : []), ...(opts.all ? ['--all'] : [])], opts);
    });
}
