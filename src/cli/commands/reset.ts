import type { Command } from 'commander';
import { PullerError } from '../../errors.ts';
import { withStore } from '../context.ts';

export function registerReset(program: Command): void {
  program
    .command('reset')
    .description("Move a stream's watermark (default: back to the beginning, so the next pull re-reads everything)")
    .argument('<connector>', 'connector id')
    .requiredOption('--stream <name>', 'the stream')
    .option('--to <cursor>', 'new cursor value, exactly as the database shows it (e.g. 2024-01-02T03:04:05.000000Z)')
    .option('--key <json>', 'key of the new position as a JSON array of strings (default: before any key)', '[]')
    .option('--forget-delivered', 'also forget what was delivered and where to: every row is delivered again, to the target the next run has')
    .option('--target-moved', 'only record that the stream\'s target moved (the same Reach at a new address): what was delivered is kept, the watermark stays')
    .action(async (id: string, opts: { stream: string; to?: string; key: string; forgetDelivered?: boolean; targetMoved?: boolean }) => {
      const key = parseKey(opts.key);
      if (opts.forgetDelivered && opts.to !== undefined) {
        throw new PullerError('RP_CONFIG_INVALID', '--forget-delivered reads the stream from the beginning; it takes no --to');
      }
      if (opts.targetMoved && (opts.forgetDelivered || opts.to !== undefined)) {
        throw new PullerError('RP_CONFIG_INVALID', '--target-moved changes nothing else; give it alone');
      }
      const { findStream } = await import('../../engine/stream-plan.ts');
      const { forgetDelivered, forgetTarget } = await import('../../engine/stream-identity.ts');
      const { logger } = await import('../../log.ts');
      const { getConnector } = await import('../../store/connector-registry.ts');
      const { loadWatermark, saveWatermark } = await import('../../store/delivery-state.ts');
      const { streamHoldKey } = await import('../../store/run-records.ts');
      await withStore(async (store) => {
        const connector = await getConnector(store.db, id);
        findStream(connector, opts.stream);
        const ref = { connectorId: id, stream: opts.stream };
        // Holding the stream, as a pull would: a running pull's next checkpoint would undo the reset.
        const hold = await store.holds.tryTake(streamHoldKey(ref));
        if (!hold) throw new PullerError('RP_STREAM_BUSY', `stream ${id}/${opts.stream} is running; reset it once the run has ended`);
        try {
          if (opts.targetMoved) {
            await forgetTarget(store.db, ref);
            logger().warn({ connector: id, stream: opts.stream }, 'delivery target released by operator: the next run records its own');
            process.stdout.write(`${id}/${opts.stream}: delivery target released; the next run records the one it has\n`);
            return;
          }
          if (opts.forgetDelivered) {
            await forgetDelivered(store.db, ref);
            logger().warn({ connector: id, stream: opts.stream }, 'delivery record forgotten by operator: every row is delivered again');
            process.stdout.write(`${id}/${opts.stream}: watermark -> (beginning); delivered records, unsettled sends and delivery target forgotten\n`);
            return;
          }
          await store.db.transaction().execute(async (trx) => {
            const before = await loadWatermark(trx, ref);
            const after = opts.to === undefined ? undefined : { cursor: opts.to, key };
            await saveWatermark(trx, ref, after);
            logger().warn({ connector: id, stream: opts.stream, before: before ?? null, after: after ?? null }, 'watermark reset by operator');
            process.stdout.write(`${id}/${opts.stream}: watermark ${fmt(before)} -> ${fmt(after)}\n`);
          });
        } finally {
          await hold.release();
        }
      });
    });
}

function fmt(p: { cursor: string; key: string[] } | undefined): string {
  return p ? `${p.cursor} ${JSON.stringify(p.key)}` : '(beginning)';
}

function parseKey(text: string): string[] {
  try {
    const key: unknown = JSON.parse(text);
    if (Array.isArray(key) && key.every((k) => typeof k === 'string')) return key;
  } catch {
    // reported below
  }
  throw new PullerError('RP_CONFIG_INVALID', `--key must be a JSON array of strings, like '["42"]'`);
}
