/**
 * One incremental pull of one stream: read keyset pages after the watermark, up to the
 * settle ceiling, each page in its own short read-only transaction (range-delivery.ts);
 * deliver; checkpoint. A failure or cancel leaves the watermark at the last page the sink
 * confirmed.
 */
import type { Logger } from '../log.ts';
import { PermanentError, PullerError } from '../errors.ts';
import type { Position } from '../interfaces.ts';
import type { Sink, StateStore } from '../sinks/sink.ts';
import type { ReadSession, Source } from '../sources/source.ts';
import { countOpenRejections, loadWatermark, saveWatermark, type StreamRef } from '../store/delivery-state.ts';
import { addPage, recordProgress, startRun, ZERO_COUNTS, type RunCounts } from '../store/run-records.ts';
import type { RunKind } from '../store/schema.ts';
import { deliverRange } from './range-delivery.ts';
import { planStream, type StreamPlan } from './stream-plan.ts';
import { adoptStreamIdentity } from './stream-identity.ts';
import type { StreamConfig } from '../config/connector-schema.ts';
import type { SchemaCatalog } from '../mapping/schema-definitions.ts';
import type { RegisteredConnector } from '../store/connector-registry.ts';
import { FUTURE_CURSOR_HINT, futureBound, lookbackStart, nextWatermark } from './watermark.ts';

export interface RunStreamOptions {
  connector: RegisteredConnector;
  stream: StreamConfig;
  schemas: SchemaCatalog;
  source: Source;
  sink: Sink;
  store: StateStore;
  log: Logger;
  kind?: RunKind;
  signal?: AbortSignal;
}

export interface RunSummary extends RunCounts {
  runId: string;
  connector: string;
  stream: string;
  status: 'succeeded' | 'failed' | 'cancelled';
  watermarkBefore?: Position;
  watermarkAfter?: Position;
  error?: PullerError | Error;
  /** Set when a succeeded run stopped early at its per-run row or byte ceiling. */
  warning?: string;
}

/** Runs one incremental pull; never throws for a failed run (the summary says why), but RP_STREAM_BUSY when it cannot start. */
export async function runStream(options: RunStreamOptions): Promise<RunSummary> {
  const { source, store } = options;
  const ref: StreamRef = { connectorId: options.connector.id, stream: options.stream.name };
  const log = options.log.child({ tenant: options.connector.tenant, connector: ref.connectorId, stream: ref.stream });
  const run = await startRun(store, ref, options.kind ?? 'pull', await loadWatermark(store, ref), { signal: options.signal });
  // Read again now that this run holds the stream: a run that just ended may have moved it.
  const before = await loadWatermark(store, ref);
  const runLog = log.child({ run: run.id });
  const counts: RunCounts = { ...ZERO_COUNTS };
  let watermark = before;
  let bytesRead = 0;
  let rowsRead = 0;
  let warning: string | undefined;
  const summary = (status: RunSummary['status'], error?: Error): RunSummary => ({
    runId: run.id, connector: ref.connectorId, stream: ref.stream, status, ...counts,
    watermarkBefore: before, watermarkAfter: watermark, error, warning,
  });

  try {
    // Planning inside the run: a dropped view or column shows in the run history too.
    const plan = await planStream(source, options.connector, options.stream, options.schemas);
    if (await adoptStreamIdentity(store, ref, plan, options.sink, { holdsStream: true, log: runLog })) watermark = undefined;
    const openRejections = { value: (await countOpenRejections(store, ref)) > 0 };
    runLog.info({ watermark: before ?? null, kind: run.kind }, 'run started');
    let sentWatermark = watermark;
    await deliverRange({
      ctx: { plan, store, sink: options.sink, run, openRejections },
      source,
      after: watermark && plan.stream.lookback_seconds ? lookbackStart(plan.cursorKind, watermark, plan.stream.lookback_seconds) : watermark,
      survey: (session, clock) => survey(plan, session, clock, counts, runLog),
      stopAfter: (page) => {
        rowsRead += page.rows.length;
        if (plan.stream.max_bytes_per_run) bytesRead += Buffer.byteLength(JSON.stringify(page.rows));
        warning = ceilingReached(plan.stream, rowsRead, bytesRead);
        if (warning) runLog.warn({ rows: rowsRead, bytes: bytesRead }, warning);
        return warning !== undefined;
      },
      // A lookback re-read never moves the watermark back; rows out of order fail the run.
      positionAfter: (page) => (sentWatermark = nextWatermark(plan.cursorKind, sentWatermark, page.positions)!),
      checkpoint: async (trx, next, outcome) => {
        await saveWatermark(trx, ref, next);
        await recordProgress(trx, run.id, addPage(counts, outcome), next);
      },
      onCommitted: (next, outcome) => {
        Object.assign(counts, addPage(counts, outcome));
        watermark = next;
        runLog.debug({ page: counts.pages, rows: outcome.read, sent: outcome.sent, watermark }, 'page confirmed');
      },
    });
    await run.finish('succeeded', counts);
    runLog.info({ ...counts, watermark: watermark ?? null }, 'run succeeded');
    return summary('succeeded');
  } catch (error) {
    const err = error instanceof Error ? error : new Error(String(error));
    const status = err instanceof PullerError && err.code === 'RP_RUN_CANCELLED' ? 'cancelled' : 'failed';
    await run.finish(status, counts, err);
    runLog.error({ err, code: (err as PullerError).code, ...counts }, `run ${status}`);
    return summary(status, err);
  }
}

/**
 * Counts, in the first page's transaction, the rows the pull cannot read: no position (a
 * NULL cursor or key), or a cursor ahead of the partner clock by more than the settle window.
 */
async function survey(plan: StreamPlan, session: ReadSession, clockUtc: string, counts: RunCounts, log: Logger): Promise<void> {
  const { stream } = plan;
  const { nullCursor, nullKey } = await session.countUnpositioned(plan.spec);
  counts.rowsNullCursor = nullCursor;
  counts.rowsNullKey = nullKey;
  if (nullCursor > 0 && stream.null_cursor === 'fail') {
    throw new PermanentError('RP_NULL_CURSOR', `view ${stream.view} has ${nullCursor} row(s) whose ${stream.cursor} is NULL`);
  }
  if (nullCursor > 0) log.warn({ rows: nullCursor, column: stream.cursor }, 'rows with a NULL cursor are not pulled');
  if (nullKey > 0) log.warn({ rows: nullKey, columns: stream.primary_key }, 'rows with a NULL primary-key column are not pulled');
  const bound = futureBound(plan.cursorKind, clockUtc, plan.settleSeconds, plan.timezone);
  if (bound === undefined) return;
  counts.rowsFutureCursor = await session.countAfter(plan.spec, bound);
  if (counts.rowsFutureCursor > 0) {
    log.warn({ rows: counts.rowsFutureCursor, column: stream.cursor, after: bound, timezone: plan.timezone }, FUTURE_CURSOR_HINT);
  }
}

/** Why a run stops at its per-run ceiling after this page, or undefined to go on. */
function ceilingReached(stream: StreamConfig, rows: number, bytes: number): string | undefined {
  const limit = stream.max_rows_per_run && rows >= stream.max_rows_per_run ? `max_rows_per_run (${stream.max_rows_per_run})`
    : stream.max_bytes_per_run && bytes >= stream.max_bytes_per_run ? `max_bytes_per_run (${stream.max_bytes_per_run})` : undefined;
  return limit && `run stopped at ${limit} after ${rows} row(s); the next run continues from the watermark`;
}
