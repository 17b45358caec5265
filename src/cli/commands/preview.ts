import type { Command } from 'commander';
import { PullerError } from '../../errors.ts';
import { withStore } from '../context.ts';
import { printJson } from '../output.ts';

export function registerPreview(program: Command): void {
  program
    .command('preview')
    .description('Print the mapped records and validation results of a stream\'s rows; sends nothing, moves nothing')
    .argument('<connector>', 'connector id')
    .requiredOption('--stream <name>', 'the stream')
    .option('--limit <n>', 'rows to read', '20')
    .option('--next', 'read the rows the next pull would read (after the watermark) instead of the first rows')
    .option('--json', 'print the rows as JSON')
    .action(async (id: string, opts: { stream: string; limit: string; next?: boolean; json?: boolean }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
        throw new PullerError('RP_CONFIG_INVALID', `--limit must be a whole number from 1 to 10000 (got ${opts.limit})`);
      }
      const { previewStream } = await import('../../engine/preview.ts');
      const { getConnector } = await import('../../store/connector-registry.ts');
      const { logger } = await import('../../log.ts');
      const result = await withStore(async (store) => previewStream({
        store: store.db, connector: await getConnector(store.db, id), stream: opts.stream, limit, next: opts.next, log: logger(),
      }));
      if (opts.json) {
        printJson(result);
        return;
      }
      const out = process.stdout;
      const rejected = result.rows.filter((r) => r.action === 'rejected').length;
      out.write(`${id}/${opts.stream}: ${result.rows.length} row(s) ${opts.next ? 'after the watermark' : 'from the beginning'}, ${rejected} rejected\n`);
      for (const r of result.rows) {
        const head = `${r.action === 'rejected' ? 'REJECTED' : r.action === 'delete' ? 'DELETE' : 'OK'} key=${JSON.stringify(r.position.key)} cursor=${r.position.cursor}`;
        if (r.action === 'rejected') out.write(`${head} external_id=${r.externalId ?? '-'}\n  fields: ${r.fields!.join(', ')}\n  reason: ${r.reason}\n`);
        else out.write(`${head} external_id=${r.externalId} (${r.change})\n  ${JSON.stringify(r.record ?? {})}\n`);
      }
    });
}
