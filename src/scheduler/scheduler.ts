/**
 * The scheduler behind `serve`: node-cron tasks per connector (its pulls' `schedule`, its
 * verify's `verify_schedule`), refreshed when the store's connector revision moves
 * (store/connector-registry.ts); a tick fires once across replicas (schedule-ticks.ts) and a
 * stream runs in one process at a time (its run holds it, store/run-records.ts); transient
 * failures retry with backoff, permanent ones park the stream; a per-source cap across
 * replicas (source-slots.ts), a global cap per process; a graceful stop. A scheduled verify
 * reports only (never repairs): run history, the verify metric, an error event when
 * anything differs.
 */
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import cron, { type ScheduledTask } from 'node-cron';
import { pullConnector } from '../engine/pull-connector.ts';
import { verifyConnector } from '../engine/verify.ts';
import type { RunSummary } from '../engine/run-stream.ts';
import { isTransient, PermanentError, PullerError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { connectorRevision, listConnectors, type RegisteredConnector } from '../store/connector-registry.ts';
import type { StreamRef } from '../store/delivery-state.ts';
import type { ScheduledJob, StoreSchema } from '../store/schema.ts';
import type { PullerMetrics } from '../server/puller-metrics.ts';
import { DEFAULT_RETRY, retryDelayMs, type RetryPolicy } from './retry-delay.ts';
import { Semaphore } from './semaphore.ts';
import type { Hold } from '../store/holds.ts';
import { claimTick } from './schedule-ticks.ts';
import { takeSourceSlot } from '../store/source-slots.ts';
import { parkedReason, parkStream } from './stream-parking.ts';
import { streamStatuses } from './stream-status.ts';

export interface SchedulerOptions {
  db: Kysely<StoreSchema>;
  log: Logger;
  metrics?: PullerMetrics;
  /** Runs in progress at once in this process, over every connector. */
  concurrency?: number;
  /** How often connectors are re-read for changes (and lag objectives checked). */
  refreshSeconds?: number;
  retry?: RetryPolicy;
}

interface Scheduled {
  connector: RegisteredConnector;
  /** Its pull and verify schedules (none when disabled or unscheduled). */
  tasks: ScheduledTask[];
}

/** Why a stream was not started. */
export type SkipReason = 'running' | 'disabled' | 'stopping';

// How long a stream waits for a free slot of its source (held by other replicas' runs).
const SOURCE_WAIT_MS = 60_000;
const SOURCE_POLL_MS = 500;

export class Scheduler {
  /** This replica's name in tick claims and logs. */
  readonly holder = `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly db: Kysely<StoreSchema>;
  private readonly log: Logger;
  private readonly refreshSeconds: number;
  private readonly retry: RetryPolicy;
  private readonly global: Semaphore;
  private readonly perSource = new Map<string, Semaphore>();
  private readonly connectors = new Map<string, Scheduled>();
  /** Jobs in progress here, by `<job> <connector>/<stream>`. */
  private readonly active = new Map<string, Promise<void>>();
  private readonly breached = new Set<string>();
  private readonly stopping = new AbortController();
  private refreshTimer?: NodeJS.Timeout;
  private refreshing: Promise<void> = Promise.resolve();
  /** The connector revision last loaded (store/connector-registry.ts). */
  private revision?: string;

  constructor(private readonly options: SchedulerOptions) {
    this.db = options.db;
    this.log = options.log.child({ holder: this.holder });
    this.refreshSeconds = options.refreshSeconds ?? 10;
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.global = new Semaphore(options.concurrency ?? 4);
  }

  /** Loads connectors, schedules them and starts watching for changes. */
  async start(): Promise<void> {
    await this.refresh();
    this.refreshTimer = setInterval(() => {
      this.refresh().then(() => this.checkLagObjectives())
        .catch((err: unknown) => this.log.error({ err }, 'refreshing connectors failed'));
    }, this.refreshSeconds * 1000);
  }

  /** Re-reads connectors when any changed, and reschedules the changed ones. */
  refresh(): Promise<void> {
    // Serialised: a poll and an API register must not interleave their reschedules.
    this.refreshing = this.refreshing.catch(() => undefined).then(() => this.reload());
    return this.refreshing;
  }

  /** Starts the given streams (default all) of a connector now; returns what was dispatched. */
  trigger(connectorId: string, stream?: string): { started: string[]; skipped: { stream: string; reason: SkipReason }[] } {
    const entry = this.connectors.get(connectorId);
    if (!entry) throw new PullerError('RP_NOT_FOUND', `No connector "${connectorId}" is registered`);
    const names = entry.connector.config.streams.map((s) => s.name).filter((n) => stream === undefined || n === stream);
    if (names.length === 0) throw new PullerError('RP_NOT_FOUND', `No stream "${stream}" in connector "${connectorId}"`);
    const started: string[] = [];
    const skipped: { stream: string; reason: SkipReason }[] = [];
    for (const name of names) {
      // Parked streams and streams another replica holds are told apart in the log, not here.
      const reason = entry.connector.enabled ? this.dispatch(entry.connector, name, 'pull', 'trigger') : 'disabled';
      if (reason) skipped.push({ stream: name, reason });
      else started.push(name);
    }
    return { started, skipped };
  }

  /** Jobs running in this process, as `pull connector/stream` or `verify connector/stream`. */
  running(): string[] {
    return [...this.active.keys()];
  }

  /** Stops scheduling, cancels runs (each stops after its current page) and releases leases. */
  async stop(): Promise<void> {
    // Abort first: a tick whose claim is in flight must not start anything after this.
    this.stopping.abort();
    clearInterval(this.refreshTimer);
    for (const entry of this.connectors.values()) await destroyAll(entry.tasks);
    await this.refreshing.catch(() => undefined);
    await Promise.allSettled([...this.active.values()]);
  }

  private async reload(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    // The revision, not the writers' clocks (updated_at): a skewed clock or commits out of
    // order cannot hide a change from it. Read first, so the list is at least that new.
    const revision = await connectorRevision(this.db);
    if (revision === this.revision) return;
    const connectors = await listConnectors(this.db);
    const seen = new Set<string>();
    for (const connector of connectors) {
      seen.add(connector.id);
      const old = this.connectors.get(connector.id);
      if (old && old.connector.hash === connector.hash && old.connector.enabled === connector.enabled) {
        old.connector = connector;
        continue;
      }
      await destroyAll(old?.tasks ?? []);
      this.connectors.set(connector.id, { connector, tasks: this.schedule(connector) });
    }
    for (const [id, entry] of this.connectors) {
      if (seen.has(id)) continue;
      await destroyAll(entry.tasks);
      this.connectors.delete(id);
    }
    this.revision = revision;
    this.log.info({ revision, connectors: connectors.length, scheduled: [...this.connectors.values()].filter((e) => e.tasks.length > 0).length }, 'connectors loaded');
  }

  /** A cron task per schedule of the connector: its pulls, its verify. */
  private schedule(connector: RegisteredConnector): ScheduledTask[] {
    if (!connector.enabled) return [];
    const { schedule, verify_schedule: verifySchedule, schedule_timezone: timezone } = connector.config;
    const tasks: ScheduledTask[] = [];
    for (const [job, expression] of [['pull', schedule], ['verify', verifySchedule]] as const) {
      if (!expression) continue;
      try {
        tasks.push(cron.schedule(expression, (context) => this.onTick(connector.id, job, context.date), {
          name: `${job === 'pull' ? 'connector' : job}:${connector.id}`, timezone, logger: this.cronLogger(),
        }));
      } catch (err) {
        this.log.error({ err, connector: connector.id, job, schedule: expression, timezone }, 'cannot schedule connector');
      }
    }
    return tasks;
  }

  private async onTick(connectorId: string, job: ScheduledJob, date: Date): Promise<void> {
    const entry = this.connectors.get(connectorId);
    if (!entry || this.stopping.signal.aborted) return;
    // Replicas agree on a tick by its scheduled second, whatever their callback's delay.
    const tick = new Date(Math.floor(date.getTime() / 1000) * 1000);
    try {
      if (!(await claimTick(this.db, connectorId, job, tick, this.holder)) || this.stopping.signal.aborted) return;
      this.log.info({ connector: connectorId, job, tick: tick.toISOString() }, 'tick claimed');
      for (const stream of entry.connector.config.streams) this.dispatch(entry.connector, stream.name, job, 'schedule');
    } catch (err) {
      this.log.error({ err, connector: connectorId, job }, 'tick failed');
    }
  }

  /** Starts a stream's job unless the same job of the stream is already running here; the job checks the rest. */
  private dispatch(connector: RegisteredConnector, stream: string, job: ScheduledJob, cause: 'schedule' | 'trigger'): SkipReason | undefined {
    // A pull and a verify of one stream go on side by side (a verify holds no stream, verify.ts).
    const key = `${job} ${connector.id}/${stream}`;
    if (this.stopping.signal.aborted) return 'stopping';
    if (this.active.has(key)) {
      // An overlapping tick is dropped, not queued: the running pull reads the new rows too.
      this.log.info({ connector: connector.id, stream, job, cause }, 'skipped: stream is still running');
      return 'running';
    }
    const running = this.runJob(connector, { connectorId: connector.id, stream }, job, cause)
      .catch((err: unknown) => this.log.error({ err, connector: connector.id, stream, job }, 'stream job failed'))
      .finally(() => this.active.delete(key));
    this.active.set(key, running);
    return undefined;
  }

  private async runJob(connector: RegisteredConnector, ref: StreamRef, job: ScheduledJob, cause: string): Promise<void> {
    const log = this.log.child({ tenant: connector.tenant, connector: ref.connectorId, stream: ref.stream, ...(job === 'verify' ? { job } : {}) });
    const parked = await parkedReason(this.db, ref);
    if (parked) {
      log.debug({ parked }, 'skipped: stream is parked');
      return;
    }
    // At most `max_connections` jobs of one source go on in this process, and a slot of the
    // source caps it across replicas; only then does the job take one of this process's
    // `concurrency` places, so a source at its cap never keeps other sources waiting.
    let sourceCap = this.perSource.get(connector.sourceId);
    if (!sourceCap) this.perSource.set(connector.sourceId, (sourceCap = new Semaphore(connector.config.source.max_connections)));
    await sourceCap.use(async () => {
      const slot = await this.sourceSlot(connector, log);
      if (!slot) return;
      try {
        await this.global.use(() => (job === 'pull' ? this.slottedJob(connector, ref, cause, log) : this.verifyJob(connector, ref, log)));
      } finally {
        await slot.release();
      }
    });
  }

  /** A slot of the connector's source, waited for a while when every replica's runs hold them all. */
  private async sourceSlot(connector: RegisteredConnector, log: Logger): Promise<Hold | undefined> {
    const cap = connector.config.source.max_connections;
    for (let waited = 0; !this.stopping.signal.aborted; waited += SOURCE_POLL_MS) {
      const slot = await takeSourceSlot(this.db, connector.sourceId, cap);
      if (slot) return slot;
      if (waited >= SOURCE_WAIT_MS) break;
      await sleep(SOURCE_POLL_MS, undefined, { signal: this.stopping.signal }).catch(() => undefined);
    }
    log.info(this.stopping.signal.aborted ? 'skipped: stopping' : 'skipped: the source is at its connection cap across replicas');
    return undefined;
  }

  /** Runs a stream, retrying transient failures and parking permanent ones. */
  private async slottedJob(connector: RegisteredConnector, ref: StreamRef, cause: string, log: Logger): Promise<void> {
    if (this.stopping.signal.aborted) {
      log.info('skipped: stopping');
      return;
    }
    const controller = new AbortController();
    const onStop = () => controller.abort();
    this.stopping.signal.addEventListener('abort', onStop);
    try {
      for (let attempt = 1; ; attempt++) {
        const summary = await this.runOnce(connector, ref, controller.signal, log);
        if (!summary || summary.status !== 'failed') return;
        const error = summary.error!;
        if (error instanceof PermanentError) {
          await parkStream(this.db, ref, error);
          log.error({ code: error.code, err: error }, 'stream parked: retrying cannot help until an operator acts');
          return;
        }
        if (!isTransient(error) || attempt >= this.retry.attempts || controller.signal.aborted) return;
        const delay = retryDelayMs(attempt, this.retry);
        log.warn({ code: (error as PullerError).code, attempt, retryInMs: delay, cause }, 'transient failure; retrying');
        await sleep(delay, undefined, { signal: controller.signal }).catch(() => undefined);
        if (controller.signal.aborted) return;
      }
    } finally {
      this.stopping.signal.removeEventListener('abort', onStop);
    }
  }

  /** One run; undefined when it could not start. */
  private async runOnce(connector: RegisteredConnector, ref: StreamRef, signal: AbortSignal, log: Logger): Promise<RunSummary | undefined> {
    if (signal.aborted) {
      log.info('skipped: stopping');
      return undefined;
    }
    const started = performance.now();
    try {
      const [summary] = await pullConnector({ store: this.db, connector, stream: ref.stream, log: this.options.log, signal, slotHeld: true });
      this.options.metrics?.recordRun(connector.tenant, summary!, (performance.now() - started) / 1000);
      return summary;
    } catch (err) {
      if (err instanceof PullerError && err.code === 'RP_STREAM_BUSY') {
        log.info('skipped: another run of the stream is in progress (this replica or another)');
        return undefined;
      }
      // Failed before a run was recorded (secret unresolved, bad TLS file...): log and count it.
      this.options.metrics?.recordFailure(connector.tenant, ref.connectorId, ref.stream, err);
      log.error({ err, code: (err as PullerError).code }, 'run could not start');
      return undefined;
    }
  }

  /**
   * A scheduled verify of a stream, in the source slot its job holds: report only. What it
   * found goes to run history (by verify itself), the verify metric, and an error event
   * when anything differs; a failure waits for the next tick.
   */
  private async verifyJob(connector: RegisteredConnector, ref: StreamRef, log: Logger): Promise<void> {
    if (this.stopping.signal.aborted) {
      log.info('skipped: stopping');
      return;
    }
    try {
      const [found] = await verifyConnector({
        store: this.db, connector, stream: ref.stream, log: this.options.log, signal: this.stopping.signal, slotHeld: true,
      });
      this.options.metrics?.recordVerify(connector.tenant, found!);
      if (found!.differences > 0) {
        log.error({ run: found!.runId, differences: found!.differences, missing: found!.missing.count, stale: found!.stale.count, extra: found!.extra.count },
          'verify found differences: see the run in run history, and `verify --repair`');
      }
    } catch (err) {
      if (err instanceof PullerError && err.code === 'RP_STREAM_BUSY') {
        log.info('skipped: another verify of the stream is in progress (this replica or another)');
        return;
      }
      this.options.metrics?.recordFailure(connector.tenant, ref.connectorId, ref.stream, err);
      log.error({ err, code: (err as PullerError).code }, 'verify failed');
    }
  }

  /** Logs an error event when a stream's lag crosses its connector's objective, once per breach. */
  async checkLagObjectives(): Promise<void> {
    for (const s of await streamStatuses(this.db)) {
      const key = `${s.connector}/${s.stream}`;
      if (s.lagBreached && !this.breached.has(key)) {
        this.breached.add(key);
        this.log.error({ tenant: s.tenant, connector: s.connector, stream: s.stream, lagSeconds: s.lagSeconds, objectiveSeconds: s.lagObjectiveSeconds },
          'lag objective breached');
      } else if (!s.lagBreached && this.breached.delete(key)) {
        this.log.info({ connector: s.connector, stream: s.stream, lagSeconds: s.lagSeconds }, 'lag objective met again');
      }
    }
  }

  private cronLogger() {
    const log = this.log.child({ component: 'node-cron' });
    return {
      info: (m: string) => log.debug(m),
      warn: (m: string) => log.warn(m),
      error: (m: string | Error, err?: Error) => log.error({ err: err ?? m }, 'node-cron error'),
      debug: (m: string | Error) => log.debug(String(m)),
    };
  }
}

async function destroyAll(tasks: ScheduledTask[]): Promise<void> {
  for (const task of tasks) await task.destroy();
}
