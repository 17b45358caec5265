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
import { withPlannedStream } from './planned-stream.ts';
import { adoptStreamIdentity } from './stream-identity.ts';
import { readByKeys } from './keyed-reads.ts';

export interface RetryOptions {
  store: StateStore;
  connector: RegisteredConnector;
  /** Only this stream; default every stream with open entries. */
  stream?: string;
  log: Logger;
  runtime?: RuntimeEnv;
  /** Stops the retry, and its wait for a slot of the source. */
  signal?: AbortSignal;
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
  const run = await startRun(store, ref, 'retry', watermark, { signal: options.signal });
  const log = options.log.child({ tenant: connector.tenant, connector: connector.id, stream, run: run.id });
  let counts: RunCounts = { ...ZERO_COUNTS };
  let gone = 0;
  let settling = 0;
  try {
    await withPlannedStream(store, connector, stream, options.runtime, async (plan, source) => {
      await adoptStreamIdentity(store, ref, plan, sink, { holdsStream: true, log });
      const ctx = { plan, store, sink, run, openRejections: { value: true } };
      await readByKeys(plan, source, run.id, keys, async ({ keys: chunk, page, unsettled, judged }) => {
        // No reject-rate guard: these rows were rejected already, and the watermark does not move.
        const outcome = await deliverJudged(ctx, judged, { beforeCommit: (trx, o) => recordProgress(trx, run.id, addPage(counts, o), watermark) });
        counts = addPage(counts, outcome);
        settling += unsettled;
        const found = new Set(page.positions.map((p) => JSON.stringify(p.key)));
        const missing = chunk.filter((k) => !found.has(JSON.stringify(k)));
        await resolveQuarantined(store, ref, plan.cursorKind, missing.map((key) => ({ key })), GONE_NOTE);
        gone += missing.length;
      });
    }, { signal: run.signal, log });
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
