import type { Command } from 'commander';
import type { ResetRequest } from '../../engine/reset-stream.ts';
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
      const { formatPosition, parseKey, resetStream } = await import('../../engine/reset-stream.ts');
      const key = parseKey(opts.key, '--key');
      if (opts.forgetDelivered && opts.to !== undefined) {
        throw new PullerError('RP_CONFIG_INVALID', '--forget-delivered reads the stream from the beginning; it takes no --to');
      }
      if (opts.targetMoved && (opts.forgetDelivered || opts.to !== undefined)) {
        throw new PullerError('RP_CONFIG_INVALID', '--target-moved changes nothing else; give it alone');
      }
      const request: ResetRequest = opts.targetMoved ? { mode: 'target-moved' } : opts.forgetDelivered ? { mode: 'forget-delivered' }
        : { mode: 'watermark', to: opts.to === undefined ? undefined : { cursor: opts.to, key } };
      const { findStream } = await import('../../engine/stream-plan.ts');
      const { logger } = await import('../../log.ts');
      const { getConnector } = await import('../../store/connector-registry.ts');
      const { before, after } = await withStore(async (store) => {
        const connector = await getConnector(store.db, id);
        findStream(connector, opts.stream);
        return resetStream(store.db, { connectorId: id, stream: opts.stream }, request, logger());
      });
      const name = `${id}/${opts.stream}`;
      if (request.mode === 'target-moved') process.stdout.write(`${name}: delivery target released; the next run records the one it has\n`);
      else if (request.mode === 'forget-delivered') process.stdout.write(`${name}: watermark -> (beginning); delivered records, unsettled sends and delivery target forgotten\n`);
      else process.stdout.write(`${name}: watermark ${formatPosition(before)} -> ${formatPosition(after)}\n`);
    });
}
