import type { Command } from 'commander';
import { PullerError } from '../../errors.ts';

export function registerDev(program: Command): void {
  const dev = program.command('dev').description('Development helpers');
  dev
    .command('reach-api')
    .description('Serve a local Reach resources API on loopback (for rehearsals, tests and the demo)')
    .option('--port <port>', 'port (0 = any free port)', '4010')
    .option('--rate-429 <p>', 'share of requests answered 429', '0')
    .option('--rate-503 <p>', 'share of requests answered 503', '0')
    .option('--apply-delay-ms <ms>', 'apply each accepted batch after a random delay up to this long, so concurrent batches land out of order')
    .action(async (opts: { port: string; rate429: string; rate503: string; applyDelayMs?: string }) => {
      const token = process.env.REACH_API_TOKEN;
      if (!token) throw new PullerError('RP_SECRET_UNRESOLVED', 'set REACH_API_TOKEN: the local API requires it as the bearer token');
      const { startReachApiServer } = await import('../../dev/reach-api-server.ts');
      const server = await startReachApiServer({
        token, port: Number(opts.port), faults: { rate429: Number(opts.rate429), rate503: Number(opts.rate503) },
        maxApplyDelayMs: opts.applyDelayMs === undefined ? undefined : Number(opts.applyDelayMs),
      });
      process.stdout.write(`local Reach API listening at ${server.url} (Ctrl-C to stop)\n` +
        `point connectors at it with REACH_API_URL=${server.url}\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await server.close();
    });
}
