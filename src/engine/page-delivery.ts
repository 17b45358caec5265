/**
 * Delivers judged pages (page-judgement.ts) and commits their checkpoints: decide per record
 * what the one delivery order allows (delivery-order.ts), hand what changed to the sink, and
 * commit the checkpoint only once the sink has accepted the page; rejections go to quarantine.
 *
 * The built-in store writes a page in the checkpoint's transaction and keeps the newest
 * version itself. Reach applies batches in any order, so its records go under claims
 * (claimed-delivery.ts): no record is posted while an older post of it is unconfirmed.
 */
import type { Transaction } from 'kysely';
import { PermanentError } from '../errors.ts';
import type { Delete, Sink, TransactionalSink, Upsert } from '../sinks/sink.ts';
import { loadDelivered, quarantine, recordDelivered, recordNewDelivered, resolveQuarantined, type DeliveredEntry } from '../store/delivery-state.ts';
import { asNewRows } from '../store/new-rows.ts';
import type { StoreSchema } from '../store/schema.ts';
import { ClaimedPage } from './claimed-delivery.ts';
import { decide, recorded } from './delivery-order.ts';
import { emptyOutcome, streamRef, type JudgedPage, type PageContext, type PageOutcome } from './page-judgement.ts';
import { streamWriter, type StreamPlan } from './stream-plan.ts';

/** What `deliverJudged` may do around the checkpoint. */
export interface DeliveryHooks {
  assertRejectRate?: (outcome: PageOutcome) => void;
  beforeCommit: (trx: Transaction<StoreSchema>, outcome: PageOutcome) => Promise<void>;
}

/** Delivers one judged page and commits its checkpoint, with nothing overlapping. */
export async function deliverJudged(ctx: PageContext, judged: JudgedPage, hooks: DeliveryHooks): Promise<PageOutcome> {
  return (await sendJudged(ctx, judged, hooks, { likely: false })).commit();
}

/** A judged page handed to the sink; `commit` waits for it to be accepted, then stores its checkpoint. */
interface SentJudgedPage {
  /** The page's counts as sent (Reach may still fail records, which then count as rejected). */
  outcome: PageOutcome;
  commit(): Promise<PageOutcome>;
}

/** Decides and sends a page; the returned commit stores the checkpoint once the sink accepted it. */
async function sendJudged(ctx: PageContext, judged: JudgedPage, hooks: DeliveryHooks, hint: NewRecordsHint): Promise<SentJudgedPage> {
  const rejected = judged.rejections.length;
  if (hooks.assertRejectRate) {
    try {
      hooks.assertRejectRate({ read: judged.read, sent: 0, deleted: 0, unchanged: 0, rejected });
    } catch (error) {
      // The run stops before this page moves anything; the reasons stay visible.
      await quarantine(ctx.store, streamRef(ctx), judged.rejections);
      throw error;
    }
  }
  if (ctx.sink.kind === 'store') return sendToStore(ctx, ctx.sink, judged, hooks, hint);
  const page = new ClaimedPage(ctx, ctx.sink, judged);
  await page.start();
  return {
    outcome: page.outcomeSoFar(),
    commit: async () => {
      const outcome = await page.settled();
      await commitCheckpoint(ctx, judged, hooks, async () => outcome, page.refused);
      return outcome;
    },
  };
}

/**
 * Whether a stream's next page is likely all new records (its last page was): the built-in
 * store then writes it without looking its delivery records up first, and the commit proves it.
 */
export interface NewRecordsHint {
  likely: boolean;
}

/**
 * The built-in store: decide against what is delivered now, then write records, delivery
 * records and checkpoint in one transaction. A decision taken before an earlier page
 * commits stays right: the store's version guard orders the writes, and a newer read of
 * content already stored is written as a `bump`, so the guard moves with it.
 *
 * When `hint` says the page is likely new (a first backfill), it is decided as if nothing
 * were delivered and written as new rows: the delivery records' plain INSERT fails if any
 * record has one (committed, or committed by a concurrent writer it waits for). Then the
 * page's writes are undone and it is decided again, in the transaction, against the
 * delivery records it found.
 */
async function sendToStore(ctx: PageContext, sink: TransactionalSink, judged: JudgedPage, hooks: DeliveryHooks, hint: NewRecordsHint): Promise<SentJudgedPage> {
  const ref = streamRef(ctx);
  const ids = () => [...judged.candidates.keys()];
  const guessedNew = hint.likely;
  let decided = decideStorePage(ctx, judged, guessedNew ? new Map() : await loadDelivered(ctx.store, ref, ids()));
  hint.likely = decided.page.undelivered;
  // `proveNew`: the delivery records go in as new rows only, a unique violation undoing the page (asNewRows).
  const write = async (trx: Transaction<StoreSchema>, proveNew: boolean) => {
    await sink.write(trx, decided.page);
    if (proveNew) await recordNewDelivered(trx, ref, decided.entries);
    else await recordDelivered(trx, ref, decided.entries, decided.page.undelivered);
  };
  return {
    outcome: { ...decided.outcome },
    commit: async () => {
      await commitCheckpoint(ctx, judged, hooks, async (trx) => {
        if (guessedNew) {
          if (await asNewRows(trx, () => write(trx, true))) return decided.outcome;
          hint.likely = false;
          decided = decideStorePage(ctx, judged, await loadDelivered(trx, ref, ids()));
        }
        await write(trx, false);
        return decided.outcome;
      });
      return decided.outcome;
    },
  };
}

/** A page's records decided against what is `known` delivered: the sink's page, the delivery records to write, the counts. */
function decideStorePage(ctx: PageContext, judged: JudgedPage, known: Map<string, DeliveredEntry>) {
  const upserts: Upsert[] = [];
  const deletes: Delete[] = [];
  const entries: DeliveredEntry[] = [];
  const outcome = emptyOutcome(judged);
  for (const c of judged.candidates.values()) {
    const verdict = decide(c.entry, known.get(c.externalId));
    if (verdict === 'send') {
      if (c.upsert) outcome.sent++;
      else outcome.deleted++;
    } else outcome.unchanged++;
    if (!recorded(verdict)) continue;
    entries.push(c.entry);
    if (c.upsert) upserts.push(c.upsert);
    else deletes.push(c.delete!);
  }
  // Nothing of the page delivered before (a first backfill): the store writes new rows, not merges.
  const undelivered = known.size === 0;
  const page = { tenant: ctx.plan.connector.tenant, schema: ctx.plan.definition.name, writer: streamWriter(streamRef(ctx)), upserts, deletes, undelivered };
  return { page, entries, outcome };
}

/**
 * The checkpoint's transaction: the run still holds the stream, the page's writes, its
 * quarantine, the caller's state. Entries of the page's records are resolved, but those of
 * records Reach failed (`refused`), which stay open for retry-rejects. `write` returns the
 * page's counts as written.
 */
async function commitCheckpoint(
  ctx: PageContext, judged: JudgedPage, hooks: DeliveryHooks,
  write: (trx: Transaction<StoreSchema>) => Promise<PageOutcome>, refused: ReadonlySet<string> = new Set(),
): Promise<void> {
  const ref = streamRef(ctx);
  await ctx.store.transaction().execute(async (trx) => {
    await ctx.run.fence(trx);
    const outcome = await write(trx);
    if (judged.rejections.length > 0) {
      await quarantine(trx, ref, judged.rejections);
      ctx.openRejections.value = true;
    }
    if (ctx.openRejections.value) {
      const delivered = [...judged.candidates.values()].filter((c) => !refused.has(c.externalId))
        .map((c) => ({ key: c.sourceKey, cursor: c.sourceCursor }));
      await resolveQuarantined(trx, ref, ctx.plan.cursorKind, delivered);
    }
    await hooks.beforeCommit(trx, outcome);
  });
}

/**
 * Pages sent and not yet committed, at most, by sink: the next page is read, judged and (to
 * Reach) posted while the ones before commit. A page's records are held until its commit.
 * Reach's pages wait on its processing and on the polls that see it done: with four, the
 * posts of later pages keep every request slot busy meanwhile (bench figure 5, 2026-12-01:
 * 0.84-0.88 of the fetch loop, against 0.77-0.85 with two). The built-in store commits in
 * the puller's own time, and two keep a backfill's memory lower (figure 4).
 */
export const PAGES_IN_FLIGHT: Readonly<Record<Sink['kind'], number>> = { 'reach-api': 4, store: 2 };

/**
 * A stream's pages delivered in order, later pages sent while earlier ones commit (for
 * Reach: while their batches are processed). At most `PAGES_IN_FLIGHT` pages are sent and
 * not committed, and checkpoints commit in page order.
 */
export class DeliveryPipeline {
  readonly #ctx: PageContext;
  /** Rows of the pages sent so far, for the reject-rate guard. */
  readonly #sent = { read: 0, rejected: 0 };
  /** The commits of the last pages sent, oldest first (at most PAGES_IN_FLIGHT of the sink). */
  readonly #commits: Promise<void>[] = [];
  /** Whether the next page is likely new records: the last one decided was. */
  readonly #newRecords: NewRecordsHint = { likely: false };

  /** PAGES_IN_FLIGHT of the context's sink. */
  readonly #inFlight: number;

  constructor(ctx: PageContext) {
    this.#ctx = ctx;
    this.#inFlight = PAGES_IN_FLIGHT[ctx.sink.kind];
  }

  /**
   * Hands a page to the sink; resolves once it is on its way, not committed. `beforeCommit` runs in its
   * checkpoint transaction, `onCommitted` after it. Throws RP_REJECT_RATE when the stream's
   * share of rejected records passes its threshold (this page is then not sent), and the
   * failure of an earlier page's commit. Records Reach fails inside accepted batches are
   * known only at their page's commit: they count from then on, and when they pass the
   * threshold that commit stands (they are quarantined) and every later page is refused.
   */
  async push(judged: JudgedPage, beforeCommit: DeliveryHooks['beforeCommit'], onCommitted: (outcome: PageOutcome) => void): Promise<void> {
    // The page `PAGES_IN_FLIGHT` back must have committed before this one goes.
    if (this.#commits.length === this.#inFlight) await this.#commits[0];
    const guard = rejectRateGuard(this.#ctx.plan, this.#sent);
    const sent = await sendJudged(this.#ctx, judged, { assertRejectRate: guard, beforeCommit }, this.#newRecords);
    this.#sent.read += sent.outcome.read;
    this.#sent.rejected += sent.outcome.rejected;
    const countReachFailures = (committed: PageOutcome) => {
      this.#sent.rejected += committed.rejected - sent.outcome.rejected;
      if (committed.rejected > sent.outcome.rejected) guard(NOTHING_MORE);
    };
    const previous = this.#commits.at(-1) ?? Promise.resolve();
    // A page commits only after the page before it: a failed commit stops every later one.
    const commit = previous.then(() => sent.commit()).then((committed) => {
      onCommitted(committed);
      countReachFailures(committed);
    });
    // Awaited by a later push or by drain; until then a failure must not count as unhandled.
    commit.catch(() => undefined);
    this.#commits.push(commit);
    if (this.#commits.length > this.#inFlight) this.#commits.shift();
  }

  /** Waits until every page sent has committed; throws the first failure. */
  async drain(): Promise<void> {
    await this.#commits.at(-1);
  }
}

/** A page of no rows: the guard then checks the totals as they stand. */
const NOTHING_MORE: PageOutcome = { read: 0, sent: 0, deleted: 0, unchanged: 0, rejected: 0 };

/** Fails the run when the share of rejected records, the totals plus `page`, passes the stream's threshold. */
function rejectRateGuard(plan: StreamPlan, totals: { read: number; rejected: number }): (page: PageOutcome) => void {
  const threshold = plan.stream.reject_threshold ?? 0.05;
  return (page) => {
    const read = totals.read + page.read;
    const rejected = totals.rejected + page.rejected;
    if (rejected > 0 && rejected / read > threshold) {
      throw new PermanentError(
        'RP_REJECT_RATE',
        `stream ${plan.connector.id}/${plan.stream.name}: ${rejected} of ${read} records rejected ` +
          `(${((rejected / read) * 100).toFixed(1)} % > ${(threshold * 100).toFixed(1)} %)`,
      );
    }
  };
}
