import type { Command } from 'commander';
import type { StreamStatus } from '../../scheduler/stream-status.ts';
import { withStore } from '../context.ts';
import { printJson, printTable } from '../output.ts';
import { unreadHints } from '../unread-rows.ts';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('One row per stream: state, last run, rows the last pull could not read, lag, next run, last error')
    .option('--connector <id>', 'only this connector')
    .option('--json', 'print as JSON')
    .action(async (opts: { connector?: string; json?: boolean }) => {
      const { streamStatuses } = await import('../../scheduler/stream-status.ts');
      const rows = await withStore((store) => streamStatuses(store.db, { connector: opts.connector }), 'GET /status');
      if (opts.json) printJson(rows);
      else {
        printTable(rows.map(tableRow), ['tenant', 'connector', 'stream', 'state', 'last_run', 'read', 'sent', 'unchanged', 'rejected',
          'null_key', 'future_cursor', 'lag', 'next_run', 'backfill', 'last_error']);
      }
      for (const s of rows) {
        if (!s.unread) continue;
        for (const hint of unreadHints(s.unread)) process.stderr.write(`warning: ${s.connector}/${s.stream} (run ${s.unread.runId}): ${hint}\n`);
      }
    });
}

function tableRow(s: StreamStatus) {
  const run = s.lastRun;
  return {
    tenant: s.tenant, connector: s.connector, stream: s.stream, state: s.state,
    last_run: run ? `${run.status} ${run.startedAt.slice(0, 19)}Z` : null,
    read: run?.read, sent: run?.sent, unchanged: run?.unchanged, rejected: run?.rejected,
    null_key: s.unread?.nullKey, future_cursor: s.unread?.futureCursor,
    lag: s.lagSeconds === null ? null : `${duration(s.lagSeconds)}${s.lagBreached ? ` > ${duration(s.lagObjectiveSeconds!)}!` : ''}`,
    next_run: s.nextRun ? `${s.nextRun.slice(0, 19)}Z` : null,
    backfill: s.backfill
      ? `${Math.floor(s.backfill.percent)}% ${Math.round(s.backfill.rowsPerSecond)} rows/s${s.backfill.etaSeconds === undefined ? '' : ` eta ${duration(Math.round(s.backfill.etaSeconds))}`}`
      : null,
    last_error: s.lastError && s.lastError.length > 80 ? `${s.lastError.slice(0, 77)}...` : s.lastError,
  };
}

/** 75 -> 1m15s; 7300 -> 2h1m. */
function duration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${seconds % 60}s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h${Math.floor((seconds % 3600) / 60)}m`;
  return `${Math.floor(seconds / 86400)}d${Math.floor((seconds % 86400) / 3600)}h`;
}
