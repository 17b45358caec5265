import type { Command } from 'commander';
import { withStore } from '../context.ts';

export function registerUnpark(program: Command): void {
  program
    .command('unpark')
    .description('Let parked streams run again once the cause is fixed')
    .argument('<connector>', 'connector id')
    .option('--stream <name>', 'only this stream (default: every parked stream)')
    .action(async (id: string, opts: { stream?: string }) => {
      const { unparkStreams } = await import('../../scheduler/stream-parking.ts');
      const names = await withStore((store) => unparkStreams(store.db, id, opts.stream), `POST /connectors/${id}/streams/<stream>/unpark`);
      process.stdout.write(names.length ? `unparked ${names.map((n) => `${id}/${n}`).join(', ')}\n` : 'nothing was parked\n');
    });
}
