import type { Command } from 'commander';
import { RUNS_LIST } from '../../store/keyset-page.ts';
import { withStore } from '../context.ts';
import { printJson, printTable } from '../output.ts';
import { cliPageRequest, pageOptions, printNextPage, type PageOptions } from '../paging.ts';
import { unreadHints } from '../unread-rows.ts';

export function registerRuns(program: Command): void {
  pageOptions(program
    .command('runs')
    .description('Run history of a connector, newest first, a page at a time')
    .argument('<connector>', 'connector id')
    .option('--stream <name>', 'only this stream'))
    .option('--json', 'print the page as JSON: { items, next }')
    .action(async (id: string, opts: PageOptions & { stream?: string; json?: boolean }) => {
      const request = cliPageRequest(RUNS_LIST, opts);
      const { listRuns } = await import('../../scheduler/run-history.ts');
      const { getConnector } = await import('../../store/connector-registry.ts');
      const page = await withStore(async (store) => {
        await getConnector(store.db, id);
        return listRuns(store.db, id, { stream: opts.stream }, request);
      }, `GET /connectors/${id}/runs`);
      const runs = page.items;
      if (opts.json) printJson(page);
      else {
        printTable(runs.map(({ watermarkAfter, detail, ...r }) => ({
          ...r, startedAt: r.startedAt.slice(0, 19), endedAt: r.endedAt?.slice(11, 19),
          null_cursor: r.nullCursor, null_key: r.nullKey, future_cursor: r.futureCursor,
        })), ['id', 'stream', 'kind', 'status', 'startedAt', 'endedAt', 'read', 'sent', 'unchanged', 'rejected', 'null_cursor', 'null_key', 'future_cursor', 'pages', 'error']);
        printNextPage(page.next, ['runs', id, ...(opts.stream ? ['--stream', opts.stream] : [])], opts);
      }
      // What the counts mean, for each stream's newest pull shown (only pulls count them).
      const seen = new Set<string>();
      for (const r of runs) {
        if (r.kind !== 'pull' || seen.has(r.stream)) continue;
        seen.add(r.stream);
        for (const hint of unreadHints(r)) process.stderr.write(`warning: ${r.stream} (run ${r.id}): ${hint}\n`);
      }
    });
}
