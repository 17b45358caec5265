import { Option, type Command } from 'commander';
import { PullerError } from '../../errors.ts';
import { DEFAULT_RETRY } from '../../scheduler/retry-delay.ts';
import type { Scheduler } from '../../scheduler/scheduler.ts';
import type { BackgroundBackfills } from '../../backfill/background-backfills.ts';

interface ServeOptions {
  host: string;
  port: string;
  api: boolean;
  concurrency: string;
  refreshSeconds: string;
  retryAttempts: string;
  retryBaseMs: string;
}

const positive = (name: string, text: string) => {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new PullerError('RP_CONFIG_INVALID', `--${name} must be a positive number, not "${text}"`);
  return n;
};

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('Run scheduled pulls and the ops HTTP API until SIGTERM')
    .addOption(new Option('--host <host>', 'ops API address').env('REACH_PULLER_OPS_HOST').default('127.0.0.1'))
    .addOption(new Option('--port <port>', 'ops API port (0: any free port)').env('REACH_PULLER_OPS_PORT').default('8080'))
    .option('--no-api', 'run the scheduler without the ops API')
    .addOption(new Option('--concurrency <n>', 'runs at once in this process').env('REACH_PULLER_CONCURRENCY').default('4'))
    .addOption(new Option('--refresh-seconds <s>', 'how often connector changes are picked up').env('REACH_PULLER_REFRESH_SECONDS').default('10'))
    .addOption(new Option('--retry-attempts <n>', 'attempts of a run that fails transiently').env('REACH_PULLER_RETRY_ATTEMPTS').default(String(DEFAULT_RETRY.attempts)))
    .addOption(new Option('--retry-base-ms <ms>', 'first retry delay; doubles each attempt, with jitter').env('REACH_PULLER_RETRY_BASE_MS').default(String(DEFAULT_RETRY.baseMs)))
    .action(async (opts: ServeOptions) => {
      const { logger } = await import('../../log.ts');
      const { boundShutdown } = await import('../signals.ts');
      const { Scheduler } = await import('../../scheduler/scheduler.ts');
      const { BackgroundBackfills } = await import('../../backfill/background-backfills.ts');
      const { buildOpsApi } = await import('../../server/ops-api.ts');
      const { PullerMetrics } = await import('../../server/puller-metrics.ts');
      const { openStore, storeOptionsFromEnv } = await import('../../store/open-store.ts');
      const log = logger();
      const token = process.env.REACH_PULLER_OPS_TOKEN;
      if (opts.api && !token) throw new PullerError('RP_OPS_TOKEN_MISSING', 'the ops API needs REACH_PULLER_OPS_TOKEN');
      // Listening from the start, and bounded from the signal on (cli/signals.ts): a SIGTERM while
      // the store opens (another replica's migration holding the lock, a silent store) still ends
      // the process in time.
      let scheduler: Scheduler | undefined;
      let backfills: BackgroundBackfills | undefined;
      let disarm: (() => void) | undefined;
      const bound = () => (disarm ??= boundShutdown(() => [
        ...(scheduler?.running() ?? []), ...(backfills?.running() ?? []).map((id) => `backfill ${id}`),
      ]));
      const stopped = new Promise<string>((resolve) => {
        const stop = (signal: string) => {
          bound();
          resolve(signal);
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
      const storeOptions = { ...storeOptionsFromEnv(), command: 'serve' };
      const store = await openStore(storeOptions);
      const metrics = new PullerMetrics();
      scheduler = new Scheduler({
        db: store.db, log, metrics,
        concurrency: positive('concurrency', opts.concurrency),
        refreshSeconds: positive('refresh-seconds', opts.refreshSeconds),
        retry: { ...DEFAULT_RETRY, attempts: positive('retry-attempts', opts.retryAttempts), baseMs: positive('retry-base-ms', opts.retryBaseMs) },
      });
      backfills = new BackgroundBackfills({ store: store.db, log });
      const api = opts.api ? buildOpsApi({ db: store.db, scheduler, metrics, backfills, token: token!, log }) : undefined;
      try {
        await scheduler.start();
        await backfills.resumeInterrupted();
        const address = await api?.listen({ host: opts.host, port: Number(opts.port) });
        log.info({ store: store.location, holder: scheduler.holder, api: address ?? null }, 'serving');
        const signal = await stopped;
        log.info({ signal, running: scheduler.running() }, 'shutting down: running streams stop after their current page');
      } finally {
        // Bounded whatever a partner or Reach does; also when start-up failed without a signal.
        bound();
        await api?.close();
        await backfills.stop();
        await scheduler.stop();
        await store.close();
        disarm?.();
      }
      log.info('stopped');
    });
}
