import type { Command } from 'commander';
import { PullerError } from '../../errors.ts';
import { listRuns } from '../../scheduler/run-history.ts';
import { getConnector } from '../../store/connector-registry.ts';
import { withStore } from '../context.ts';
import { printJson, printTable } from '../output.ts';
import { unreadHints } from '../unread-rows.ts';

export function registerRuns(program: Command): void {
  program
    .command('runs')
    .description('Run history of a connector, newest first')
    .argument('<connector>', 'connector id')
    .option('--stream <name>', 'only this stream')
    .option('--limit <n>', 'how many runs', '20')
    .option('--json', 'print as JSON')
    .action(async (id: string, opts: { stream?: string; limit: string; json?: boolean }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new PullerError('RP_CONFIG_INVALID', `--limit must be a positive integer, not "${opts.limit}"`);
      const runs = await withStore(async (store) => {
        await getConnector(store.db, id);
        return listRuns(store.db, id, { stream: opts.stream, limit });
      }, `GET /connectors/${id}/runs`);
      if (opts.json) printJson(runs);
      else {
        printTable(runs.map(({ watermarkAfter, ...r }) => ({
          ...r, startedAt: r.startedAt.slice(0, 19), endedAt: r.endedAt?.slice(11, 19),
          null_cursor: r.nullCursor, null_key: r.nullKey, future_cursor: r.futureCursor,
        })), ['id', 'stream', 'kind', 'status', 'startedAt', 'endedAt', 'read', 'sent', 'unchanged', 'rejected', 'null_cursor', 'null_key', 'future_cursor', 'pages', 'error']);
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
