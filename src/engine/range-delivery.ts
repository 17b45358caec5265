/**
 * The one reading discipline of every run that scans a stream, pulls and backfill chunks
 * alike: keyset pages in (cursor, key) order after a position, each page in its own short
 * read-only transaction, never past the settle ceiling drawn from the partner clock of that
 * transaction (nor past the range's end). No statement or snapshot outlives a page, so a
 * slow sink only slows the run. The next page is read while the current one is delivered,
 * and each page's checkpoint commits once the sink accepted it, in page order.
 */
import { stopError } from '../errors.ts';
import type { CursorValue, Position } from '../interfaces.ts';
import type { RateLimiter } from '../backfill/rate-limiter.ts';
import type { Page, ReadSession, Source } from '../sources/source.ts';
import type { Transaction } from 'kysely';
import type { StoreSchema } from '../store/schema.ts';
import { DeliveryPipeline } from './page-delivery.ts';
import { judgePage, type PageContext, type PageOutcome } from './page-judgement.ts';
import { readCeiling, type StreamPlan } from './stream-plan.ts';
import { compareCursor } from './watermark.ts';

export interface RangeDelivery {
  ctx: PageContext;
  source: Source;
  /** Read strictly after this position; absent: from the first row. */
  after?: Position;
  /** Exclusive lower bound on the cursor (a backfill chunk's start): rows at it are not delivered. */
  above?: CursorValue;
  /** Inclusive upper bound on the cursor (a backfill chunk's end). */
  upTo?: CursorValue;
  /** Rows per page, and so per checkpoint; default the stream's page size. */
  pageSize?: number;
  limiter?: RateLimiter;
  /** Runs in the first page's transaction before the read (a pull counts rows it cannot read). */
  survey?: (session: ReadSession, clockUtc: string) => Promise<void>;
  /** True to stop after this page (a pull's per-run ceilings). */
  stopAfter?: (page: Page) => boolean;
  /** The position a page's checkpoint stores, asked once per page, in order. */
  positionAfter: (page: Page) => Position;
  /** Stores the page's checkpoint, inside its commit transaction. */
  checkpoint: (trx: Transaction<StoreSchema>, position: Position, outcome: PageOutcome) => Promise<void>;
  /** After the page's checkpoint committed. */
  onCommitted: (position: Position, outcome: PageOutcome) => void;
}

/** What a keyset scan of a stream reads: the one reading discipline, for delivery and for verify alike. */
export interface RangeRead {
  plan: StreamPlan;
  source: Source;
  after?: Position;
  upTo?: CursorValue;
  pageSize: number;
  /** Stops the scan: checked as each page arrives, before the next is asked for. */
  signal?: AbortSignal;
  /** The run a stop names. */
  runId?: string;
  survey?: (session: ReadSession, clockUtc: string) => Promise<void>;
  stopAfter?: (page: Page) => boolean;
  /** Read past the settle ceiling (verify's look at the rows still settling); default false. */
  unsettled?: boolean;
}

/** A page as read, with the bound it was read under (the read's ceiling, or the range's end if lower) and that ceiling. */
export interface ReadPage extends Page {
  upTo?: CursorValue;
  ceiling?: CursorValue;
}

/**
 * Reads a range in keyset pages, each in its own short read-only transaction under the settle
 * ceiling of that transaction's clock; the next page is read while the caller works on this
 * one. Yields every page read, the last one short (possibly empty), then ends.
 */
export async function* readRange(range: RangeRead): AsyncGenerator<ReadPage> {
  const { plan, source } = range;
  const read = (after: Position | undefined, first: boolean) => handledLater(source.withReadSession(async (session): Promise<ReadPage> => {
    const clock = await session.clockUtc();
    const ceiling = range.unsettled ? undefined : await readCeiling(plan, session);
    const upTo = ceiling === undefined ? range.upTo
      : range.upTo === undefined || compareCursor(plan.cursorKind, ceiling, range.upTo) < 0 ? ceiling : range.upTo;
    if (first) await range.survey?.(session, clock);
    return { ...(await session.readPage(plan.spec, { after, upTo, limit: range.pageSize })), upTo, ceiling };
  }));
  let pending: Promise<ReadPage> | undefined = read(range.after, true);
  try {
    while (pending) {
      const page: ReadPage = await pending;
      pending = undefined;
      if (range.signal?.aborted) throw stopError(range.signal.reason, `run ${range.runId ?? ''}`.trim());
      // Read the next page while this one is worked on: the partner database and the caller
      // work at the same time, still on one partner connection at a time.
      const stop = page.rows.length > 0 && (range.stopAfter?.(page) ?? false);
      if (page.rows.length === range.pageSize && !stop) pending = read(page.positions.at(-1), false);
      yield page;
    }
  } finally {
    // A read still in flight ends before its source is closed.
    await pending?.catch(() => undefined);
  }
}

/**
 * A read ahead that fails while the caller still works on the last page is awaited only at
 * the next page: marked handled now, so Node does not report it as an unhandled rejection
 * (and end the process) in between. The error still reaches whoever awaits it.
 */
function handledLater<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/**
 * Reads and delivers the range; throws RP_RUN_CANCELLED (or the run's own stop reason) when the run is stopped.
 * Answers the bound the last page was read under (the read's ceiling, or the range's end if lower).
 */
export async function deliverRange(range: RangeDelivery): Promise<CursorValue | undefined> {
  const { ctx, source } = range;
  const { plan, run } = ctx;
  const pageSize = range.pageSize ?? plan.pageSize;
  const pipeline = new DeliveryPipeline(ctx);
  try {
    const pages = readRange({
      plan, source, after: range.after, upTo: range.upTo, pageSize, signal: run.signal, runId: run.id,
      survey: range.survey, stopAfter: range.stopAfter,
    });
    let readTo: CursorValue | undefined;
    for await (const page of pages) {
      readTo = page.upTo;
      if (page.rows.length === 0) break;
      const kept = range.above === undefined ? page : rowsAbove(page, range.above, plan.cursorKind);
      if (kept.rows.length === 0) continue;
      await range.limiter?.take(kept.rows.length, run.signal);
      const position = range.positionAfter(kept);
      await pipeline.push(
        judgePage(plan, run.id, kept.rows, kept.positions),
        (trx, outcome) => range.checkpoint(trx, position, outcome),
        (outcome) => range.onCommitted(position, outcome),
      );
    }
    await pipeline.drain();
    return readTo;
  } finally {
    // A page still committing ends before the run's outcome is recorded.
    await pipeline.drain().catch(() => undefined);
  }
}

/** The rows of a page whose cursor is above `bound`. */
export function rowsAbove(page: Page, bound: CursorValue, kind: Parameters<typeof compareCursor>[0]): Page {
  const keep = page.positions.map((p) => compareCursor(kind, p.cursor, bound) > 0);
  if (keep.every(Boolean)) return page;
  return { rows: page.rows.filter((_, i) => keep[i]), positions: page.positions.filter((_, i) => keep[i]) };
}
