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
import { readCeiling } from './stream-plan.ts';
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

/** Reads and delivers the range; throws RP_RUN_CANCELLED (or the run's own stop reason) when the run is stopped. */
export async function deliverRange(range: RangeDelivery): Promise<void> {
  const { ctx, source } = range;
  const { plan, run } = ctx;
  const pageSize = range.pageSize ?? plan.pageSize;
  const read = (after: Position | undefined, first: boolean) => source.withReadSession(async (session) => {
    const clock = await session.clockUtc();
    const ceiling = readCeiling(plan, clock);
    const upTo = ceiling === undefined ? range.upTo
      : range.upTo === undefined || compareCursor(plan.cursorKind, ceiling, range.upTo) < 0 ? ceiling : range.upTo;
    if (first) await range.survey?.(session, clock);
    return session.readPage(plan.spec, { after, upTo, limit: pageSize });
  });
  const pipeline = new DeliveryPipeline(ctx);
  let pending: Promise<Page> | undefined = read(range.after, true);
  try {
    while (pending) {
      const page: Page = await pending;
      pending = undefined;
      if (run.signal.aborted) throw stopError(run.signal.reason, `run ${run.id}`);
      if (page.rows.length === 0) break;
      // Read the next page while this one is delivered: the partner database and the sink work
      // at the same time, still on one partner connection at a time.
      const stop = range.stopAfter?.(page) ?? false;
      if (page.rows.length === pageSize && !stop) pending = read(page.positions.at(-1), false);
      const kept = range.above === undefined ? page : above(page, range.above, plan.cursorKind);
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
  } finally {
    // A read still in flight ends before its source is closed, and a page still committing
    // before the run's outcome is recorded.
    await pending?.catch(() => undefined);
    await pipeline.drain().catch(() => undefined);
  }
}

/** The rows of a page whose cursor is above `bound`. */
function above(page: Page, bound: CursorValue, kind: Parameters<typeof compareCursor>[0]): Page {
  const keep = page.positions.map((p) => compareCursor(kind, p.cursor, bound) > 0);
  if (keep.every(Boolean)) return page;
  return { rows: page.rows.filter((_, i) => keep[i]), positions: page.positions.filter((_, i) => keep[i]) };
}
