import type { Command } from 'commander';
import { withStore } from '../context.ts';
import { EXIT, printJson, printTable } from '../output.ts';
import { unreadHints } from '../unread-rows.ts';

export function registerPull(program: Command): void {
  program
    .command('pull')
    .description('Run one incremental pull of a connector now (every stream, or one)')
    .argument('<connector>', 'connector id')
    .option('--stream <name>', 'only this stream')
    .option('--json', 'print the run summaries as JSON')
    .action(async (id: string, opts: { stream?: string; json?: boolean }) => {
      const { pullConnector } = await import('../../engine/pull-connector.ts');
      const { logger } = await import('../../log.ts');
      const { getConnector } = await import('../../store/connector-registry.ts');
      const { cancelOnSignals } = await import('../signals.ts');
      const results = await withStore(async (store) => {
        const connector = await getConnector(store.db, id);
        const streams = connector.config.streams.map((s) => s.name).filter((name) => !opts.stream || name === opts.stream);
        return cancelOnSignals(
          (signal) => pullConnector({ store: store.db, connector, stream: opts.stream, log: logger(), signal }),
          () => streams.map((name) => `pull ${connector.id}/${name}`),
        );
      });
      const rows = results.map((r) => ({
        stream: r.stream, status: r.status, read: r.rowsRead, sent: r.rowsSent, unchanged: r.rowsUnchanged,
        rejected: r.rowsRejected, deleted: r.rowsDeleted, null_cursor: r.rowsNullCursor, null_key: r.rowsNullKey,
        future_cursor: r.rowsFutureCursor, pages: r.pages,
        watermark: r.watermarkAfter ? `${r.watermarkAfter.cursor} ${JSON.stringify(r.watermarkAfter.key)}` : null,
        error: r.error ? `${(r.error as { code?: string }).code ?? ''} ${r.error.message}`.trim() : null,
      }));
      if (opts.json) printJson(rows);
      else printTable(rows, ['stream', 'status', 'read', 'sent', 'unchanged', 'rejected', 'deleted', 'null_cursor', 'null_key', 'future_cursor', 'pages', 'watermark', 'error']);
      for (const r of results) {
        if (r.warning) process.stderr.write(`warning: ${r.stream}: ${r.warning}\n`);
        const hints = unreadHints({ nullCursor: r.rowsNullCursor, nullKey: r.rowsNullKey, futureCursor: r.rowsFutureCursor });
        for (const hint of hints) process.stderr.write(`warning: ${r.stream}: ${hint}\n`);
      }
      if (results.some((r) => r.status !== 'succeeded')) process.exitCode = EXIT.failure;
    });
}
