/**
 * Runs: one row per run in the history, and the live run that owns it.
 *
 * Ownership. A pull, retry or reconcile run holds its stream (holds.ts): a second run of the
 * stream is refused while the first one's process lives, and admitted at once when it died,
 * because its hold ended with its connection (or its process, for the embedded store). The
 * new run then marks the dead one's row abandoned. Backfill chunks run under their
 * backfill's hold instead (backfill-store.ts), beside pulls.
 *
 * Fencing. A run beats on a timer for as long as it lives; every beat and every transaction
 * that commits the run's work first checks that its row is still `running`, so a run taken
 * for dead (its connection to the store dropped while it went on) can never move a
 * watermark or record a delivery after another run took over. A run also fences itself: it
 * sends nothing to Reach once `sendDeadlineMs` have passed since a beat last reached the
 * store, which is what lets another run settle its unconfirmed sends after that long.
 */
import { hostname } from 'node:os';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Position } from '../interfaces.ts';
import { PullerError } from '../errors.ts';
import { scrubSecrets } from '../secrets/secret-registry.ts';
import { remoteText } from '../remote-text.ts';
import { holdsOf, type Hold } from './holds.ts';
import { STREAM_HOLDING_KINDS, type RunKind, type RunStatus, type StoreSchema } from './schema.ts';
import type { StreamRef } from './delivery-state.ts';
import { positiveEnv } from '../config/positive-env.ts';

type Db = Kysely<StoreSchema> | Transaction<StoreSchema>;

/** Counters a run reports. */
export interface RunCounts {
  rowsRead: number;
  rowsSent: number;
  rowsUnchanged: number;
  rowsRejected: number;
  rowsDeleted: number;
  rowsNullCursor: number;
  rowsNullKey: number;
  rowsFutureCursor: number;
  pages: number;
}

/** What one confirmed page adds to a run's counts. */
export interface PageCounts {
  read: number;
  sent: number;
  deleted: number;
  unchanged: number;
  rejected: number;
}

/** Run counts with one more page's outcome added. */
export function addPage(c: RunCounts, o: PageCounts): RunCounts {
  return {
    ...c,
    rowsRead: c.rowsRead + o.read, rowsSent: c.rowsSent + o.sent, rowsDeleted: c.rowsDeleted + o.deleted,
    rowsUnchanged: c.rowsUnchanged + o.unchanged, rowsRejected: c.rowsRejected + o.rejected, pages: c.pages + 1,
  };
}

/** The columns that mark a run whose process died. Times of runs are the store's clock: others measure silence against it. */
export function abandoned() {
  return { status: 'failed' as const, ended_at: sql<Date>`now()`, error_code: 'RP_RUN_ABANDONED', error: 'the process running it stopped' };
}

export const ZERO_COUNTS: RunCounts = {
  rowsRead: 0, rowsSent: 0, rowsUnchanged: 0, rowsRejected: 0, rowsDeleted: 0, rowsNullCursor: 0, rowsNullKey: 0,
  rowsFutureCursor: 0, pages: 0,
};

/**
 * How often a run beats; how long after its last beat reached the store it still starts a
 * request to Reach; and how long such a request may take to arrive. Others settle a silent
 * run's unconfirmed sends only once the last two have passed, so together they bound how
 * long a crash can hold up the records the dead run was sending.
 */
export const RUN_TIMING = {
  heartbeatMs: positiveEnv('REACH_PULLER_HEARTBEAT_MS', 2_000),
  sendDeadlineMs: positiveEnv('REACH_PULLER_SEND_DEADLINE_MS', 15_000),
  requestGraceMs: positiveEnv('REACH_PULLER_REQUEST_GRACE_MS', 30_000),
  /** How far Reach's clock may be from the store's and ours, when the time Reach gives a batch is compared with a send's. */
  reachClockSkewMs: positiveEnv('REACH_PULLER_REACH_CLOCK_SKEW_MS', 120_000),
};

/** A run in progress, owned by this process. */
export interface LiveRun {
  readonly id: string;
  readonly ref: StreamRef;
  readonly kind: RunKind;
  /** Aborts when the run must stop: its hold ended, or another run took its stream. */
  readonly signal: AbortSignal;
  /**
   * Throws RP_RUN_FENCED unless this run's row is still `running`; call first inside every
   * transaction that commits its work. `share` for a transaction that never writes the run's
   * row (claims, settles): those pass the fence beside each other. The default, the row's lock
   * for no key update, for one that may (a checkpoint writes the run's progress): taken before any
   * lock of its own, it never waits for the run's other transactions while they wait for it.
   */
  fence(trx: Db, lock?: 'share'): Promise<void>;
  /** Throws RP_RUN_FENCED when the run has not reached the store within its send deadline: it must not send. */
  assertMaySend(): void;
  /** Aborts `signal` with `reason`: a part of the run failed, so whatever waits in its other parts ends too. */
  stop(reason: unknown): void;
  /** Records the outcome (unless the run was fenced) and gives the stream back. */
  finish(status: Exclude<RunStatus, 'running'>, counts: RunCounts, error?: unknown): Promise<void>;
}

/** The hold a pull, retry or reconcile run takes: one such run per stream, in every process. */
export function streamHoldKey(ref: StreamRef): string {
  return `stream ${ref.connectorId}/${ref.stream}`;
}

const UNIQUE_VIOLATION = '23505';

// This process, as runs name their owner.
const PROCESS = `${hostname()}:${process.pid}`;

// Run ids of this process's live runs: on a store only this process opens, any other is dead.
const liveHere = new Set<string>();

/** Whether this process runs the run (meaningful where the store is this process's alone). */
export function isLiveHere(runId: string): boolean {
  return liveHere.has(runId);
}

export interface StartRunOptions {
  /** Backfill chunks: the backfill's hold, taken by its owner; default: the stream's own hold. */
  hold?: Hold;
  /** Stops the run with the caller (cancel, shutdown). */
  signal?: AbortSignal;
}

/**
 * Starts a run. A pull, retry or reconcile takes the stream's hold first and is refused with
 * RP_STREAM_BUSY while a live run has it; the rows of runs whose holder died are closed as
 * abandoned. Throws before anything is recorded when the stream is busy.
 */
export async function startRun(db: Kysely<StoreSchema>, ref: StreamRef, kind: RunKind, watermark: Position | undefined, options: StartRunOptions = {}): Promise<LiveRun> {
  const ownHold = options.hold ? undefined : await holdsOf(db).tryTake(streamHoldKey(ref));
  if (!options.hold && !ownHold) {
    const live = await db.selectFrom('runs').select(['id', 'kind', 'owner']).where('connector_id', '=', ref.connectorId)
      .where('stream', '=', ref.stream).where('status', '=', 'running').where('kind', 'in', STREAM_HOLDING_KINDS).executeTakeFirst();
    const which = live ? `: ${live.kind} run ${live.id} in process ${live.owner ?? 'unknown'}` : ' in a live process';
    throw new PullerError('RP_STREAM_BUSY', `stream ${ref.connectorId}/${ref.stream} is already running${which}`);
  }
  const hold = (options.hold ?? ownHold)!;
  let id: string;
  try {
    id = await db.transaction().execute(async (trx) => {
      // Holding the stream, any other running pull of it belongs to a process that died.
      if (STREAM_HOLDING_KINDS.includes(kind)) {
        await trx.updateTable('runs').set(abandoned())
          .where('connector_id', '=', ref.connectorId).where('stream', '=', ref.stream)
          .where('status', '=', 'running').where('kind', 'in', STREAM_HOLDING_KINDS).execute();
      }
      const row = await trx.insertInto('runs')
        .values({
          connector_id: ref.connectorId, stream: ref.stream, kind, status: 'running', owner: PROCESS,
          watermark_before: JSON.stringify(watermark ?? null),
        })
        .returning('id').executeTakeFirstOrThrow();
      return row.id;
    });
  } catch (error) {
    await ownHold?.release();
    // Another live run's row: this process's hold ended (its session dropped) as it was taken.
    if ((error as { code?: string }).code === UNIQUE_VIOLATION) {
      throw new PullerError('RP_STREAM_BUSY', `stream ${ref.connectorId}/${ref.stream} was taken by another run as this one started`);
    }
    throw error;
  }
  return new StoreRun(db, id, ref, kind, hold, ownHold, options.signal);
}

class StoreRun implements LiveRun {
  readonly controller = new AbortController();
  readonly signal = this.controller.signal;
  #maySendUntil: number;
  #fenced = false;
  /** Recorded as ended (or ending): a heartbeat that comes back after it opens no send window. */
  #ended = false;
  readonly #timer: NodeJS.Timeout;
  readonly #stopWatching: () => void;

  constructor(
    private readonly db: Kysely<StoreSchema>,
    readonly id: string,
    readonly ref: StreamRef,
    readonly kind: RunKind,
    hold: Hold,
    private readonly ownHold: Hold | undefined,
    outer: AbortSignal | undefined,
  ) {
    liveHere.add(id);
    this.#maySendUntil = performance.now() + RUN_TIMING.sendDeadlineMs;
    const onLost = () => this.#stop(new PullerError('RP_RUN_FENCED', `run ${id} lost its hold on ${ref.connectorId}/${ref.stream}: its store connection ended`));
    const onOuter = () => this.controller.abort(outer!.reason);
    hold.lost.addEventListener('abort', onLost);
    outer?.addEventListener('abort', onOuter);
    if (hold.lost.aborted) onLost();
    if (outer?.aborted) onOuter();
    this.#stopWatching = () => {
      hold.lost.removeEventListener('abort', onLost);
      outer?.removeEventListener('abort', onOuter);
    };
    this.#timer = setInterval(() => void this.#beat(), RUN_TIMING.heartbeatMs);
  }

  async #beat(): Promise<void> {
    const sentAt = performance.now();
    try {
      const row = await this.db.updateTable('runs').set({ heartbeat_at: sql<Date>`now()` })
        .where('id', '=', this.id).where('status', '=', 'running').returning('id').executeTakeFirst();
      if (!row) this.#stop(this.#fencedError());
      else if (!this.#fenced && !this.#ended) this.#maySendUntil = sentAt + RUN_TIMING.sendDeadlineMs;
    } catch {
      // The store is unreachable: nothing of this run can commit. Past its send deadline it stops.
      if (performance.now() > this.#maySendUntil) {
        this.#stop(new PullerError('RP_RUN_FENCED', `run ${this.id} of ${this.ref.connectorId}/${this.ref.stream} has not reached the store for ${RUN_TIMING.sendDeadlineMs} ms`));
      }
    }
  }

  #fencedError(): PullerError {
    return new PullerError('RP_RUN_FENCED', `run ${this.id} of ${this.ref.connectorId}/${this.ref.stream} was taken for dead and another run took the stream over`);
  }

  #stop(reason: PullerError): void {
    this.#fenced = true;
    this.#maySendUntil = 0;
    if (!this.signal.aborted) this.controller.abort(reason);
  }

  async fence(trx: Db, lock?: 'share'): Promise<void> {
    // The row's lock orders this commit against a takeover's `abandoned()` update (it waits for
    // this commit; a fence after it finds the row no longer running). A share lock lets the
    // run's claims and settles pass beside each other: a lock for update on each queued every
    // transaction of the run behind the one before (docs/benchmarks.md, figure 5).
    const query = trx.selectFrom('runs').select('id').where('id', '=', this.id).where('status', '=', 'running');
    // No key update, not update: the latter also blocks the foreign key checks of rows that
    // reference the run (rejected_records.run_id), which the old fence (an UPDATE) let pass.
    const row = await (lock === 'share' ? query.forShare() : query.forNoKeyUpdate()).executeTakeFirst();
    if (!row) {
      const error = this.#fencedError();
      this.#stop(error);
      throw error;
    }
  }

  stop(reason: unknown): void {
    if (!this.signal.aborted) this.controller.abort(reason);
  }

  assertMaySend(): void {
    if (performance.now() < this.#maySendUntil) return;
    const reason = this.#ended ? 'it ended' : this.#fenced ? 'it was taken for dead' : `it has not reached the store for ${RUN_TIMING.sendDeadlineMs} ms`;
    throw new PullerError('RP_RUN_FENCED', `run ${this.id} of ${this.ref.connectorId}/${this.ref.stream} stopped sending: ${reason}`);
  }

  async finish(status: Exclude<RunStatus, 'running'>, counts: RunCounts, error?: unknown): Promise<void> {
    // Nothing of the run starts a request once it is recorded as ended: the next run settles a
    // send of an ended run after the request grace only (a page still posting, past a failed one).
    this.#ended = true;
    this.#maySendUntil = 0;
    clearInterval(this.#timer);
    this.#stopWatching();
    try {
      await finishRun(this.db, this.id, status, counts, error);
    } finally {
      liveHere.delete(this.id);
      await this.ownHold?.release();
    }
  }
}

/** Records progress at a checkpoint (inside the checkpoint's transaction). */
export async function recordProgress(db: Db, runId: string, counts: RunCounts, watermark: Position | undefined): Promise<void> {
  await db.updateTable('runs').set({ ...countColumns(counts), watermark_after: JSON.stringify(watermark ?? null), heartbeat_at: sql<Date>`now()` })
    .where('id', '=', runId).execute();
}

/** Ends a run with its final counts and, for a failure, the error (secrets scrubbed); a fenced run's row is left as its successor left it. */
async function finishRun(db: Db, runId: string, status: Exclude<RunStatus, 'running'>, counts: RunCounts, error?: unknown): Promise<void> {
  await db.updateTable('runs').set({
    status, ended_at: sql<Date>`now()`, ...countColumns(counts),
    error_code: error instanceof PullerError ? error.code : error ? 'RP_UNEXPECTED' : null,
    error: error ? scrubSecrets(describeError(error)) : null,
  }).where('id', '=', runId).where('status', '=', 'running').execute();
}

/** Characters of a stored error: causes can hold a remote peer's text, of any length. */
export const STORED_ERROR_LIMIT = 1_000;

/** An error and its causes on one line, without secrets or control characters, at most STORED_ERROR_LIMIT characters. */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e && parts.length < 4; e = (e as { cause?: unknown }).cause) {
    parts.push(e instanceof Error ? e.message : String(e));
  }
  return remoteText(parts.join(': '), { limit: STORED_ERROR_LIMIT });
}

function countColumns(c: RunCounts) {
  return {
    rows_read: c.rowsRead, rows_sent: c.rowsSent, rows_unchanged: c.rowsUnchanged, rows_rejected: c.rowsRejected,
    rows_deleted: c.rowsDeleted, rows_null_cursor: c.rowsNullCursor, rows_null_key: c.rowsNullKey,
    rows_future_cursor: c.rowsFutureCursor, pages: c.pages,
  };
}
