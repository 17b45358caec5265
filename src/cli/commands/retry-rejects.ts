import type { Command } from 'commander';
import { withStore } from '../context.ts';
import { EXIT, printJson, printTable } from '../output.ts';

export function registerRetryRejects(program: Command): void {
  program
    .command('retry-rejects')
    .description('Re-read quarantined rows by key after a fix and deliver those that now pass (the watermark does not move)')
    .argument('<connector>', 'connector id')
    .option('--stream <name>', 'only this stream')
    .option('--json', 'print the summaries as JSON')
    .action(async (id: string, opts: { stream?: string; json?: boolean }) => {
      const { retryRejects } = await import('../../engine/retry-rejects.ts');
      const { findStream } = await import('../../engine/stream-plan.ts');
      const { logger } = await import('../../log.ts');
      const { getConnector } = await import('../../store/connector-registry.ts');
      const results = await withStore(async (store) => {
        const connector = await getConnector(store.db, id);
        if (opts.stream) findStream(connector, opts.stream);
        return retryRejects({ store: store.db, connector, stream: opts.stream, log: logger() });
      });
      const rows = results.map((r) => ({
        stream: r.stream, run: r.runId, entries: r.entries, resolved: r.resolved, still_failing: r.stillFailing, gone: r.gone,
        sent: r.counts.rowsSent, deleted: r.counts.rowsDeleted, unchanged: r.counts.rowsUnchanged,
      }));
      if (opts.json) printJson(rows);
      else printTable(rows, ['stream', 'run', 'entries', 'resolved', 'still_failing', 'gone', 'sent', 'deleted', 'unchanged']);
      if (results.some((r) => r.stillFailing > 0)) process.exitCode = EXIT.failure;
    });
}
