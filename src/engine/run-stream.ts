/**
 * One incremental pull of one stream: read keyset pages after the watermark, up to the
 * settle ceiling, each page in its own short read-only transaction; deliver; checkpoint.
 * A failure or cancel leaves the watermark at the last page the sink confirmed.
 */
import type { Logger } from '../log.ts';
import { PermanentError, PullerError } from '../errors.ts';
import type { Position } from '../interfaces.ts';
import type { Sink, StateStore } from '../sinks/sink.ts';
import type { Source } from '../sources/source.ts';
import { countOpenRejections, loadWatermark, saveWatermark, type StreamRef } from '../store/delivery-state.ts';
import { addPage, finishRun, recordProgress, startRun, ZERO_COUNTS, type RunCounts } from '../store/run-records.ts';
import type { RunKind } from '../store/schema.ts';
import { DeliveryPipeline, judgePage } from './page-delivery.ts';
import { planStream } from './stream-plan.ts';
import type { StreamConfig } from '../config/connector-schema.ts';
import type { SchemaCatalog } from '../mapping/schema-definitions.ts';
import type { RegisteredConnector } from '../store/connector-registry.ts';
import { lookbackStart, nextWatermark, settleCeiling } from './watermark.ts';

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

/** Runs one incremental pull; never throws for a failed run (the summary says why). */
export async function runStream(options: RunStreamOptions): Promise<RunSummary> {
  const { source, store, signal } = options;
  const ref: StreamRef = { connectorId: options.connector.id, stream: options.stream.name };
  const log = options.log.child({ tenant: options.connector.tenant, connector: ref.connectorId, stream: ref.stream });
  const runId = await startRun(store, ref, options.kind ?? 'pull', await loadWatermark(store, ref));
  // Read again now that this run holds the stream: a run that just ended may have moved it.
  const before = await loadWatermark(store, ref);
  const runLog = log.child({ run: runId });
  const counts: RunCounts = { ...ZERO_COUNTS };
  let watermark = before;
  let bytesRead = 0;
  let warning: string | undefined;
  const summary = (status: RunSummary['status'], error?: Error): RunSummary => ({
    runId, connector: ref.connectorId, stream: ref.stream, status, ...counts,
    watermarkBefore: before, watermarkAfter: watermark, error, warning,
  });

  try {
    // Planning inside the run: a dropped view or column shows in the run history too.
    const plan = await planStream(source, options.connector, options.stream, options.schemas);
    const hasOpenRejections = (await countOpenRejections(store, ref)) > 0;
    const timezone = plan.connector.config.source.timezone;
    let after = watermark && plan.stream.lookback_seconds
      ? lookbackStart(plan.cursorKind, watermark, plan.stream.lookback_seconds, timezone)
      : watermark;
    runLog.info({ watermark: before ?? null, kind: options.kind ?? 'pull' }, 'run started');
    // The ceiling comes from the partner's clock inside the same transaction as the page.
    const read = (from: Position | undefined, first: boolean) => source.withReadSession(async (session) => {
      const upTo = settleCeiling(plan.cursorKind, await session.clockUtc(), plan.settleSeconds, timezone);
      const page = await session.readPage(plan.spec, { after: from, upTo, limit: plan.pageSize });
      return { page, nullCursor: first ? await session.countNullCursor(plan.spec) : 0 };
    });
    // Pages are sent while the previous one commits; `watermark` moves only at a commit.
    const pipeline = new DeliveryPipeline({ plan, store, sink: options.sink, runId, hasOpenRejections });
    let sentWatermark = watermark;
    let rowsRead = 0;
    let pending: ReturnType<typeof read> | undefined = read(after, true);
    try {
      for (let first = true; pending; first = false) {
        const { page, nullCursor } = await pending;
        pending = undefined;
        if (signal?.aborted) throw new PullerError('RP_RUN_CANCELLED', `run ${runId} was cancelled`);
        if (first && nullCursor > 0) {
          counts.rowsNullCursor = nullCursor;
          if (plan.stream.null_cursor === 'fail') {
            throw new PermanentError('RP_NULL_CURSOR', `view ${plan.stream.view} has ${nullCursor} row(s) whose ${plan.stream.cursor} is NULL`);
          }
          runLog.warn({ rows: nullCursor, column: plan.stream.cursor }, 'rows with a NULL cursor are not pulled');
        }
        if (page.rows.length === 0) break;
        const next = nextWatermark(plan.cursorKind, sentWatermark, page.positions);
        sentWatermark = next;
        after = page.positions.at(-1);
        // Read the next page while this one is delivered: the partner database and the store
        // work at the same time, still on one partner connection. Its rows wait for this
        // page's checkpoint, so the watermark still moves page by page.
        const full = page.rows.length === plan.pageSize;
        rowsRead += page.rows.length;
        if (plan.stream.max_bytes_per_run) bytesRead += Buffer.byteLength(JSON.stringify(page.rows));
        warning = ceilingReached(plan.stream, rowsRead, bytesRead);
        if (full && !warning) pending = read(after, false);
        await pipeline.push(judgePage({ plan, runId }, page.rows, page.positions), async (trx, o) => {
          await saveWatermark(trx, ref, next);
          await recordProgress(trx, runId, addPage(counts, o), next);
        }, (outcome) => {
          Object.assign(counts, addPage(counts, outcome));
          watermark = next;
          runLog.debug({ page: counts.pages, rows: outcome.read, sent: outcome.sent, watermark }, 'page confirmed');
        });
        if (warning) runLog.warn({ rows: rowsRead, bytes: bytesRead, watermark: next }, warning);
      }
      await pipeline.drain();
    } finally {
      // A read still in flight when the run stops must end before its source is closed, and a
      // page still committing before the run's outcome is recorded.
      await pending?.catch(() => undefined);
      await pipeline.drain().catch(() => undefined);
    }
    await finishRun(store, runId, 'succeeded', counts);
    runLog.info({ ...counts, watermark: watermark ?? null }, 'run succeeded');
    return summary('succeeded');
  } catch (error) {
    const err = error instanceof Error ? error : new Error(String(error));
    const status = err instanceof PullerError && err.code === 'RP_RUN_CANCELLED' ? 'cancelled' : 'failed';
    await finishRun(store, runId, status, counts, err);
    runLog.error({ err, code: (err as PullerError).code, ...counts }, `run ${status}`);
    return summary(status, err);
  }
}

/** Why a run stops at its per-run ceiling after this page, or undefined to go on. */
function ceilingReached(stream: StreamConfig, rows: number, bytes: number): string | undefined {
  const limit = stream.max_rows_per_run && rows >= stream.max_rows_per_run ? `max_rows_per_run (${stream.max_rows_per_run})`
    : stream.max_bytes_per_run && bytes >= stream.max_bytes_per_run ? `max_bytes_per_run (${stream.max_bytes_per_run})` : undefined;
  return limit && `run stopped at ${limit} after ${rows} row(s); the next run continues from the watermark`;
}

