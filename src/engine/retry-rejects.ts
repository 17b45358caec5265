/**
 * `retry-rejects`: re-reads the quarantined rows of a stream by primary key (within the
 * tenant filter) after the data or the mapping was fixed, and delivers them like a pull
 * does: mapping, validation, the delivery order, sink and checkpoint all apply, except that
 * the checkpoint never moves the watermark. Entries that now pass are resolved, those that
 * still fail are updated, and those whose row left the view are resolved with a note. A
 * row whose cursor is past the settle ceiling is left for the pulls, like any unsettled row.
 */
import type { Logger } from '../log.ts';
import type { StateStore } from '../sinks/sink.ts';
import type { RegisteredConnector } from '../store/connector-registry.ts';
import { listRejections, loadWatermark, resolveQuarantined, type StreamRef } from '../store/delivery-state.ts';
import { addPage, recordProgress, startRun, ZERO_COUNTS, type RunCounts } from '../store/run-records.ts';
import { createSink, reachTarget, storeRuntime, type RuntimeEnv } from './connector-runtime.ts';
import { deliverJudged } from './page-delivery.ts';
import { judgePage } from './page-judgement.ts';
import { withPlannedStream } from './planned-stream.ts';
import { adoptStreamIdentity } from './stream-identity.ts';
import { readCeiling } from './stream-plan.ts';
import { compareCursor } from './watermark.ts';

export interface RetryOptions {
  store: StateStore;
  connector: RegisteredConnector;
  /** Only this stream; default every stream with open entries. */
  stream?: string;
  log: Logger;
  runtime?: RuntimeEnv;
}

export interface RetrySummary {
  stream: string;
  runId: string;
  /** Open entries before the retry. */
  entries: number;
  /** Entries resolved because their row now passes (sent or already up to date). */
  resolved: number;
  /** Entries whose row still fails (updated with the new reason). */
  stillFailing: number;
  /** Entries resolved because their row is no longer in the view. */
  gone: number;
  /** Entries left open because their row changed within the settle window: the next pulls read it. */
  settling: number;
  counts: RunCounts;
}

export const GONE_NOTE = 'the row is no longer in the view';

// Key values are bound one parameter each; SQL Server allows 2100 per statement.
const MAX_BOUND_KEY_VALUES = 1000;

/** Retries every open quarantine entry of the connector (or of one stream). */
export async function retryRejects(options: RetryOptions): Promise<RetrySummary[]> {
  const { store, connector } = options;
  const open = await listRejections(store, connector.id, { stream: options.stream });
  const streams = options.stream ? [options.stream] : [...new Set(open.map((e) => e.stream))];
  const sink = createSink(await reachTarget(connector.config, storeRuntime(store, options.runtime)), options.log);
  try {
    const out: RetrySummary[] = [];
    for (const stream of streams) {
      const keys = open.filter((e) => e.stream === stream).map((e) => e.sourceKey);
      out.push(await retryStream(options, stream, keys, sink));
    }
    return out;
  } finally {
    await sink.close();
  }
}

async function retryStream(options: RetryOptions, stream: string, keys: string[][], sink: ReturnType<typeof createSink>): Promise<RetrySummary> {
  const { store, connector } = options;
  const ref: StreamRef = { connectorId: connector.id, stream };
  const watermark = await loadWatermark(store, ref);
  // A retry holds the stream like a pull, so the two never deliver the same rows at once.
  const run = await startRun(store, ref, 'retry', watermark);
  const log = options.log.child({ tenant: connector.tenant, connector: connector.id, stream, run: run.id });
  let counts: RunCounts = { ...ZERO_COUNTS };
  let gone = 0;
  let settling = 0;
  try {
    await withPlannedStream(store, connector, stream, options.runtime, async (plan, source) => {
      await adoptStreamIdentity(store, ref, plan, sink, { holdsStream: true, log });
      const ctx = { plan, store, sink, run, openRejections: { value: true } };
      const chunkSize = Math.max(1, Math.floor(MAX_BOUND_KEY_VALUES / plan.stream.primary_key.length));
      for (let i = 0; i < keys.length; i += chunkSize) {
        const chunk = keys.slice(i, i + chunkSize);
        const { page, ceiling } = await source.withReadSession(async (session) => ({
          page: await session.readKeys(plan.spec, chunk), ceiling: readCeiling(plan, await session.clockUtc()),
        }));
        const settled = page.positions.map((p) => ceiling === undefined || compareCursor(plan.cursorKind, p.cursor, ceiling) <= 0);
        const judged = judgePage(plan, run.id, page.rows.filter((_, j) => settled[j]), page.positions.filter((_, j) => settled[j]));
        // No reject-rate guard: these rows were rejected already, and the watermark does not move.
        const outcome = await deliverJudged(ctx, judged, { beforeCommit: (trx, o) => recordProgress(trx, run.id, addPage(counts, o), watermark) });
        counts = addPage(counts, outcome);
        settling += settled.filter((s) => !s).length;
        const found = new Set(page.positions.map((p) => JSON.stringify(p.key)));
        const missing = chunk.filter((k) => !found.has(JSON.stringify(k)));
        await resolveQuarantined(store, ref, plan.cursorKind, missing.map((key) => ({ key })), GONE_NOTE);
        gone += missing.length;
      }
    });
    await run.finish('succeeded', counts);
  } catch (error) {
    await run.finish('failed', counts, error);
    throw error;
  }
  const summary: RetrySummary = {
    stream, runId: run.id, entries: keys.length, resolved: keys.length - gone - settling - counts.rowsRejected,
    stillFailing: counts.rowsRejected, gone, settling, counts,
  };
  log.info(summary, 'quarantine retried');
  return summary;
}
