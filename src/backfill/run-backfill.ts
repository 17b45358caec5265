/**
 * Backfills: start, resume, cancel, list, progress. The functions the CLI and the ops API call.
 *
 * A backfill splits a stream's cursor range into chunks (chunk-plan.ts). A chunk reads like
 * a pull (range-delivery.ts): keyset pages, each in its own short read-only transaction
 * under the settle ceiling, bounded by the chunk's range; the pages go through the same
 * delivery (mapping, quarantine, the one delivery order, sink), and each page's commit
 * stores the chunk's checkpoint; a resumed chunk reads strictly after it. Scheduled pulls
 * keep running beside it: the delivery order keeps the newest value of every record,
 * whichever run read it. The watermark moves once, when a backfill from the stream's first
 * row succeeds (its seed, backfill-store.ts `finishBackfill`).
 */
import type { StreamConfig } from '../config/connector-schema.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, PullerError, stopError } from '../errors.ts';
import type { Position } from '../interfaces.ts';
import type { Logger } from '../log.ts';
import { createSink, openConnectorSource, reachTarget, storeRuntime, type RuntimeEnv } from '../engine/connector-runtime.ts';
import { deliverRange } from '../engine/range-delivery.ts';
import { DEFAULT_PAGE_SIZE, findStream, planStream, readCeiling, type StreamPlan } from '../engine/stream-plan.ts';
import { adoptStreamIdentity, cursorSignature } from '../engine/stream-identity.ts';
import { compareCursor } from '../engine/watermark.ts';
import type { StateStore, Sink } from '../sinks/sink.ts';
import type { Source } from '../sources/source.ts';
import { getConnector, type RegisteredConnector } from '../store/connector-registry.ts';
import { countOpenRejections, loadWatermark } from '../store/delivery-state.ts';
import { holdsOf, type Hold } from '../store/holds.ts';
import { addPage, recordProgress, startRun, ZERO_COUNTS, type RunCounts } from '../store/run-records.ts';
import { loadSchemaCatalog } from '../store/schema-registry.ts';
import { backfillProgress, listBackfills, rateAndEta, type BackfillProgress } from './backfill-progress.ts';
import {
  backfillHoldKey, beat, claimBackfill, finishBackfill, insertBackfill, loadBackfill, requestCancel,
  saveChunkCheckpoint, setChunkStatus, type BackfillRecord, type ChunkRecord,
} from './backfill-store.ts';
import { clockDigits, parseBound, planChunks, rangeShare, type CursorRange } from './chunk-plan.ts';
import { RateLimiter } from './rate-limiter.ts';
import { waitForSourceSlot } from '../store/source-slots.ts';

export interface BackfillDeps {
  store: StateStore;
  log: Logger;
  /** Aborting stops every chunk after its current page; the backfill ends `cancelled`. */
  signal?: AbortSignal;
  runtime?: RuntimeEnv;
  /** Called after every confirmed page with the backfill's live progress. */
  onProgress?: (progress: LiveProgress) => void;
}

export interface BackfillRequest {
  connector: string;
  /** Required when the connector has several streams. */
  stream?: string;
  /** Inclusive cursor bounds as text (`2024-01-01`, `2024-01-01T10:00:00Z`, `1200`). */
  from?: string;
  to?: string;
  /** How many ranges to split into (default: the parallelism the source allows). */
  chunks?: number;
  maxRowsPerSecond?: number;
  /** Rows per page, and so per checkpoint (default 5000). */
  checkpointRows?: number;
}

export interface LiveProgress {
  id: string;
  rowsDone: number;
  rowsEstimated: number;
  rowsPerSecond: number;
  etaSeconds?: number;
}

/** A started backfill: its id at once, its outcome when every chunk has ended. */
export interface BackfillHandle {
  id: string;
  done: Promise<BackfillProgress>;
}

// The owner beats (and looks for a cancel) this often; see OWNER_SILENT_SECONDS.
const HEARTBEAT_MS = 1000;
// A chunk whose reads stopped under a settle ceiling below its end reads on after this long.
const CEILING_WAIT_MS = 1000;

/** Plans a new backfill (range, chunks, estimate), stores it and starts it. */
export async function startBackfill(deps: BackfillDeps, request: BackfillRequest): Promise<BackfillHandle> {
  const connector = await getConnector(deps.store, request.connector);
  const stream = pickStream(connector, request.stream);
  const checkpointRows = request.checkpointRows ?? DEFAULT_PAGE_SIZE;
  for (const [name, value] of [['--chunks', request.chunks], ['--max-rows-per-second', request.maxRowsPerSecond], ['--checkpoint-rows', checkpointRows]] as const) {
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
      throw new ConfigError([{ path: name, message: `must be a positive integer, got ${value}` }]);
    }
  }
  const runtime = await openRuntime(deps, connector, stream);
  const onboarding = (await loadWatermark(deps.store, { connectorId: connector.id, stream: stream.name })) === undefined;
  let id: string;
  let hold: Hold;
  try {
    const { plan, source } = runtime;
    const kind = plan.cursorKind;
    const found = await source.withReadSession(async (session) => {
      // Canonical values of this database carry its fraction digits.
      const digits = clockDigits(await session.clockUtc());
      const range: CursorRange = {
        from: request.from === undefined ? undefined : parseBound(kind, '--from', request.from, digits),
        to: request.to === undefined ? undefined : parseBound(kind, '--to', request.to, digits),
      };
      const first = await session.readPage(plan.spec, { limit: 1 });
      const stats = await session.cursorStats(plan.spec);
      // What a pull will need to read no more once this backfill succeeds: the rows under the
      // ceiling now. Integer cursors without a ceiling: an id taken by a transaction still open
      // is below the largest one, so only onboarding (no watermark yet, where a pull would
      // read past such an id just the same) seeds the largest; otherwise the pull's watermark
      // stays below the open id, and the next pull reads it once committed.
      const ceiling = await readCeiling(plan, session);
      const seed = ceiling ?? (plan.cursorKind === 'integer' && onboarding ? stats.max : undefined);
      return { range: { ...range, min: first.positions[0]?.cursor, max: stats.max }, rows: stats.rows, seed };
    });
    const { range } = found;
    if (range.from !== undefined && range.to !== undefined && compareCursor(kind, range.from, range.to) > 0) {
      throw new ConfigError([{ path: '--from', message: `${range.from} is after --to ${range.to}` }]);
    }
    // The last chunk ends at the seed, if there is one: rows above it are the pulls' (they are
    // above the watermark, seeded or not), and a chunk open above would chase rows the
    // partner keeps updating, and under a rate cap might never end.
    const chunks = planChunks(kind, { ...range, end: found.seed }, request.chunks ?? defaultChunks(connector, found.rows));
    id = await insertBackfill(deps.store, {
      connectorId: connector.id, stream: stream.name, from: range.from, to: range.to, checkpointRows,
      maxRowsPerSecond: request.maxRowsPerSecond,
      rowsEstimated: Math.round(found.rows * (range.from === undefined && range.to === undefined ? 1 : rangeShare(kind, range))),
      seedCursor: found.seed,
      cursorSignature: cursorSignature(plan),
      chunks,
    });
    // A new id: nobody else can hold it.
    hold = (await holdsOf(deps.store).tryTake(backfillHoldKey(id)))!;
    deps.log.info({ backfill: id, connector: connector.id, stream: stream.name, chunks: chunks.length, ...range }, 'backfill planned');
  } catch (error) {
    await runtime.close();
    throw error;
  }
  return { id, done: execute(deps, await loadBackfill(deps.store, id), runtime, hold) };
}

/**
 * Continues a backfill after a crash, a cancel or a failure, each chunk strictly after its
 * checkpoint. Refused (RP_BACKFILL_BUSY) while a live process runs it.
 */
export async function resumeBackfill(deps: BackfillDeps, id: string): Promise<BackfillHandle> {
  const hold = await holdsOf(deps.store).tryTake(backfillHoldKey(id));
  if (!hold) {
    const owner = (await loadBackfill(deps.store, id)).owner;
    throw new PullerError('RP_BACKFILL_BUSY', `backfill ${id} is running in a live process${owner ? ` (${owner})` : ''}`);
  }
  let runtime: Runtime | undefined;
  try {
    const b = await loadBackfill(deps.store, id);
    if (b.status === 'succeeded') throw new PullerError('RP_NOT_FOUND', `backfill ${id} already succeeded; there is nothing to resume`);
    if (!(await claimBackfill(deps.store, b))) throw new PullerError('RP_BACKFILL_BUSY', `backfill ${id} changed while it was being resumed; try again`);
    const connector = await getConnector(deps.store, b.connectorId);
    runtime = await openRuntime(deps, connector, findStream(connector, b.stream), id);
    // Its chunk bounds are values of the cursor it was planned with (none recorded: before this check existed).
    if (b.cursorSignature !== undefined && b.cursorSignature !== cursorSignature(runtime.plan)) {
      throw new PullerError('RP_CURSOR_CHANGED', `backfill ${id} was planned on the cursor ${b.cursorSignature}; ` +
        `the stream's is ${cursorSignature(runtime.plan)} now. Start a new backfill`);
    }
    deps.log.info({ backfill: id, left: b.chunks.filter((c) => c.status !== 'succeeded').length }, 'backfill resumed');
    return { id, done: execute(deps, await loadBackfill(deps.store, id), runtime, hold) };
  } catch (error) {
    await runtime?.close();
    await hold.release();
    throw error;
  }
}

/** Ids of backfills `--resume` without an id continues: interrupted or failed (cancelled ones need their id). */
export async function resumableBackfills(store: StateStore): Promise<string[]> {
  const [running, failed] = await Promise.all([listBackfills(store, { status: 'running' }), listBackfills(store, { status: 'failed' })]);
  return [...running.filter((p) => p.state === 'interrupted'), ...failed].sort((a, b) => Number(b.id) - Number(a.id)).map((p) => p.id);
}

/** Asks a running (or failed) backfill to stop; its owner stops every chunk after the current page. */
export async function cancelBackfill(store: StateStore, id: string): Promise<BackfillProgress> {
  const b = await loadBackfill(store, id);
  if (!(await requestCancel(store, id))) {
    throw new PullerError('RP_NOT_FOUND', `backfill ${id} is ${b.status}; only a running or failed backfill can be cancelled`);
  }
  return backfillProgress(store, id);
}

/** The stream a backfill request names; with none, the connector's only one. */
export function pickStream(connector: RegisteredConnector, name: string | undefined): StreamConfig {
  if (name) return findStream(connector, name);
  if (connector.config.streams.length === 1) return connector.config.streams[0]!;
  throw new ConfigError([{ path: '--stream', message: `connector ${connector.id} has several streams (${connector.config.streams.map((s) => s.name).join(', ')}); name one` }]);
}

/**
 * Chunks read at once: the source's max_connections, less one kept for scheduled pulls when
 * the connector has a schedule (a pull would otherwise wait for a chunk to end).
 */
// Chunks are even in cursor values, not rows: more chunks than connections let a free
// connection pick up the next chunk when the history is skewed, up to this many rows each.
const ROWS_PER_EXTRA_CHUNK = 50_000;

/** Enough chunks to read in parallel, and up to four per connection to spread a skewed history. */
function defaultChunks(connector: RegisteredConnector, rows: number): number {
  const width = parallelism(connector);
  return Math.max(width, Math.min(width * 4, Math.ceil(rows / ROWS_PER_EXTRA_CHUNK)));
}

function parallelism(connector: RegisteredConnector): number {
  const max = connector.config.source.max_connections;
  return connector.config.schedule && max > 1 ? max - 1 : max;
}

interface Runtime {
  connector: RegisteredConnector;
  source: Source;
  sink: Sink;
  plan: StreamPlan;
  close(): Promise<void>;
}

/** Opens the source and sink and plans the stream; `backfillId` when resuming one. */
async function openRuntime(deps: BackfillDeps, connector: RegisteredConnector, stream: StreamConfig, backfillId?: string): Promise<Runtime> {
  const runtime = storeRuntime(deps.store, deps.runtime);
  // The target first: if it cannot be resolved, no source pool is left open.
  const target = await reachTarget(connector.config, runtime);
  const source = await openConnectorSource(connector.config, runtime);
  let sink: Sink | undefined;
  const close = async () => {
    await sink?.close();
    await source.close();
  };
  try {
    sink = createSink(target, deps.log);
    const plan = await planStream(source, connector, stream, await loadSchemaCatalog(deps.store));
    await adoptStreamIdentity(deps.store, { connectorId: connector.id, stream: stream.name }, plan, sink, { holdsStream: false, backfillId, log: deps.log });
    return { connector, source, sink, plan, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Runs a claimed backfill's unfinished chunks, at most `parallelism` at once, records the outcome and gives the hold back. */
async function execute(deps: BackfillDeps, b: BackfillRecord, runtime: Runtime, hold: Hold): Promise<BackfillProgress> {
  const { store } = deps;
  const log = deps.log.child({ backfill: b.id, connector: b.connectorId, stream: b.stream });
  const controller = new AbortController();
  const stop = (reason: unknown) => () => controller.abort(reason);
  const onOuter = stop(deps.signal?.reason);
  const onLost = stop(new PullerError('RP_RUN_FENCED', `backfill ${b.id} lost its hold: its store connection ended`));
  deps.signal?.addEventListener('abort', onOuter, { once: true });
  hold.lost.addEventListener('abort', onLost, { once: true });
  if (deps.signal?.aborted) onOuter();
  // The heartbeat carries a cancel requested by another process (`backfill --cancel`).
  const heartbeat = setInterval(() => {
    beat(store, b.id).then((status) => {
      if (status !== 'running') controller.abort(new PullerError('RP_RUN_CANCELLED', `backfill ${b.id} was cancelled`));
    }, (error: unknown) => log.warn({ err: error }, 'backfill heartbeat failed'));
  }, HEARTBEAT_MS);
  const live = liveTracker(b, deps.onProgress);
  const limiter = b.maxRowsPerSecond ? new RateLimiter(b.maxRowsPerSecond) : undefined;
  const pending = b.chunks.filter((c) => c.status !== 'succeeded');
  const outcomes: ChunkOutcome[] = [];
  try {
    const width = Math.min(pending.length, parallelism(runtime.connector));
    let next = 0;
    const { sourceId, config } = runtime.connector;
    await Promise.all(Array.from({ length: width }, async () => {
      while (next < pending.length && !controller.signal.aborted) {
        // A slot of the source, shared with scheduled pulls in every replica: the cap holds fleet-wide.
        const slot = await waitForSourceSlot(store, sourceId, config.source.max_connections, controller.signal);
        if (!slot) break;
        try {
          if (next >= pending.length) break;
          const chunk = pending[next++]!;
          outcomes.push(await runChunk({ deps, b, runtime, chunk, hold, signal: controller.signal, limiter, live, log }));
        } finally {
          // The chunk's connection does not idle on in the pool once its slot is another process's.
          await runtime.source.closeIdle().catch(() => undefined);
          await slot.release();
        }
      }
    }));
    const failed = outcomes.find((o) => o.status === 'failed');
    const status = controller.signal.aborted ? 'cancelled' : failed ? 'failed' : 'succeeded';
    await finishBackfill(store, b, runtime.plan.cursorKind, status, failed?.error);
  } finally {
    clearInterval(heartbeat);
    deps.signal?.removeEventListener('abort', onOuter);
    hold.lost.removeEventListener('abort', onLost);
    await runtime.close();
    await hold.release();
  }
  const progress = await backfillProgress(store, b.id);
  log.info({ state: progress.state, rows: progress.rowsDone, rowsPerSecond: progress.rowsPerSecond }, `backfill ${progress.state}`);
  return progress;
}

interface ChunkOutcome {
  status: 'succeeded' | 'failed' | 'cancelled';
  error?: unknown;
}

interface ChunkJob {
  deps: BackfillDeps;
  b: BackfillRecord;
  runtime: Runtime;
  chunk: ChunkRecord;
  hold: Hold;
  signal: AbortSignal;
  limiter?: RateLimiter;
  live: (rows: number) => void;
  log: Logger;
}

/** One chunk: keyset pages from its checkpoint (or its lower bound) to its upper bound, each delivered and checkpointed; recorded as a run. */
async function runChunk(job: ChunkJob): Promise<ChunkOutcome> {
  const { deps: { store }, b, runtime: { plan, source, sink }, chunk } = job;
  const ref = { connectorId: b.connectorId, stream: b.stream };
  // From the lower bound, before any key at it: rows at the bound itself belong to the chunk below.
  const start: Position | undefined = chunk.checkpoint ?? (chunk.lower !== undefined ? { cursor: chunk.lower, key: [] } : undefined);
  const run = await startRun(store, ref, 'backfill', start, { hold: job.hold, signal: job.signal });
  await setChunkStatus(store, b.id, chunk.chunk, 'running', run.id);
  const log = job.log.child({ chunk: chunk.chunk, run: run.id });
  const counts: RunCounts = { ...ZERO_COUNTS };
  // Where the chunk's reads must reach before it has read its range: its end, never past the
  // seed (rows above the seed are the pulls'). A page reads no further than its settle ceiling,
  // which can be below it when the ceiling is lower than at planning (settle_seconds raised
  // before a resume, a partner clock stepped back): the chunk then waits for the ceiling and
  // reads on, rather than end (and seed the watermark) above rows nobody read.
  const end = chunk.upper === undefined || b.seedCursor === undefined ? undefined
    : compareCursor(plan.cursorKind, chunk.upper, b.seedCursor) < 0 ? chunk.upper : b.seedCursor;
  let after = start;
  try {
    const openRejections = { value: (await countOpenRejections(store, ref)) > 0 };
    const deliver = () => deliverRange({
      ctx: { plan, store, sink, run, openRejections },
      source, after, above: chunk.lower, upTo: chunk.upper, pageSize: b.checkpointRows, limiter: job.limiter,
      positionAfter: (page) => page.positions.at(-1)!,
      checkpoint: async (trx, last, outcome) => {
        await saveChunkCheckpoint(trx, b.id, chunk.chunk, last, addPage(ZERO_COUNTS, outcome));
        await recordProgress(trx, run.id, addPage(counts, outcome), last);
      },
      onCommitted: (last, outcome) => {
        after = last;
        Object.assign(counts, addPage(counts, outcome));
        job.live(outcome.read);
      },
    });
    let waits = 0;
    for (let readTo = await deliver(); end !== undefined && readTo !== undefined && compareCursor(plan.cursorKind, readTo, end) < 0; readTo = await deliver()) {
      // Said once, not at every look: the wait can last as long as settle_seconds was raised by.
      if (waits++ === 0) log.info({ readTo, end }, 'backfill chunk waits for the settle ceiling to pass its end');
      await sleep(CEILING_WAIT_MS, undefined, { signal: job.signal }).catch(() => {
        throw stopError(job.signal.reason, `backfill ${b.id}`);
      });
    }
    await run.finish('succeeded', counts);
    await setChunkStatus(store, b.id, chunk.chunk, 'succeeded', run.id);
    log.debug({ ...counts }, 'backfill chunk succeeded');
    return { status: 'succeeded' };
  } catch (error) {
    const cancelled = error instanceof PullerError && error.code === 'RP_RUN_CANCELLED';
    await run.finish(cancelled ? 'cancelled' : 'failed', counts, error);
    // A cancelled chunk is simply not finished: resume continues it from its checkpoint.
    await setChunkStatus(store, b.id, chunk.chunk, cancelled ? 'pending' : 'failed', run.id, cancelled ? undefined : error);
    if (!cancelled) log.error({ err: error, ...counts }, 'backfill chunk failed');
    return { status: cancelled ? 'cancelled' : 'failed', error };
  }
}

/** Counts confirmed rows in memory and reports live progress (rate of this process's run). */
function liveTracker(b: BackfillRecord, onProgress: BackfillDeps['onProgress']): (rows: number) => void {
  const before = b.chunks.reduce((n, c) => n + c.rowsRead, 0);
  const started = performance.now();
  let done = before;
  const report = () => {
    const rowsEstimated = Math.max(b.rowsEstimated, done);
    onProgress?.({ id: b.id, rowsDone: done, rowsEstimated, ...rateAndEta(done, before, rowsEstimated, (performance.now() - started) / 1000) });
  };
  report();
  return (rows) => {
    done += rows;
    report();
  };
}
