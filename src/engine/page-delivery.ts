/**
 * Turns one page of view rows into delivered records and a checkpoint: map and validate
 * each row (bad ones go to quarantine, the rest continue), drop what Reach already has
 * (same content hash, or a newer version), hand the rest to the sink, and commit the
 * watermark with the delivery bookkeeping only once the sink has accepted the page.
 */
import type { Transaction } from 'kysely';
import { PermanentError, RecordError } from '../errors.ts';
import type { Position, SourceRow } from '../interfaces.ts';
import { contentHash, recordJson } from '../mapping/content-hash.ts';
import { validate } from '../mapping/validator.ts';
import type { Delete, FailedRecord, Sink, Upsert } from '../sinks/sink.ts';
import {
  loadDelivered, quarantine, recordDelivered, resolveQuarantined,
  type DeliveredEntry, type Rejection, type StreamRef,
} from '../store/delivery-state.ts';
import type { StateStore } from '../sinks/sink.ts';
import type { StoreSchema } from '../store/schema.ts';
import type { StreamPlan } from './stream-plan.ts';
import { versionKey } from './watermark.ts';

/** What happened to a page's rows. */
export interface PageOutcome {
  read: number;
  sent: number;
  deleted: number;
  unchanged: number;
  rejected: number;
}

export interface PageContext {
  plan: StreamPlan;
  store: StateStore;
  sink: Sink;
  runId: string;
  /** Open quarantine entries exist for the stream: delivered keys may resolve them. */
  hasOpenRejections: boolean;
}

/** A row that maps: what to send for it and what to remember once it is delivered. */
export interface Candidate {
  externalId: string;
  sourceKey: string[];
  sourceCursor: string;
  entry: DeliveredEntry;
  upsert?: Upsert;
  delete?: Delete;
}

/** One row's fate: a record to upsert or delete, or a rejection naming the field(s). */
export type RowVerdict = { candidate: Candidate } | { externalId: string | null; error: RecordError };

/**
 * Maps, checks and validates one row. A soft-deleted row needs only its external id, so
 * a bad value elsewhere in it never keeps the delete from Reach.
 */
export function judgeRow(plan: StreamPlan, row: SourceRow, position: Position): RowVerdict {
  const version = versionKey(plan.cursorKind, position.cursor);
  let externalId: string | null = null;
  try {
    if (plan.mapper.isDeleted(row)) {
      externalId = plan.mapper.externalId(row);
      return { candidate: {
        externalId, sourceKey: position.key, sourceCursor: position.cursor,
        entry: { externalId, contentHash: 'deleted', version, deleted: true },
        delete: { externalId, version },
      } };
    }
    const mapped = plan.mapper.mapRow(row);
    externalId = mapped.externalId;
    const verdict = validate(plan.definition, mapped.record);
    if (!verdict.ok) throw new RecordError(verdict.fields, verdict.message);
    const json = recordJson(mapped.record);
    return { candidate: {
      externalId, sourceKey: position.key, sourceCursor: position.cursor,
      entry: { externalId, contentHash: contentHash(json), version, deleted: false },
      upsert: { externalId, json, version },
    } };
  } catch (error) {
    if (!(error instanceof RecordError)) throw error;
    return { externalId: externalId ?? idIfMappable(plan, row), error };
  }
}

/** The row's external id when it maps on its own, so a rejection still names the record. */
function idIfMappable(plan: StreamPlan, row: SourceRow): string | null {
  try {
    return plan.mapper.externalId(row);
  } catch (error) {
    if (error instanceof RecordError) return null;
    throw error;
  }
}

/** What `deliverRows` may do around the checkpoint. */
export interface DeliveryHooks {
  assertRejectRate?: (outcome: PageOutcome) => void;
  beforeCommit: (trx: Transaction<StoreSchema>, outcome: PageOutcome) => Promise<void>;
}

/**
 * Delivers one page. `beforeCommit` runs inside the checkpoint transaction (it stores the
 * watermark or a backfill checkpoint); `assertRejectRate` may refuse the page before anything
 * is sent.
 */
export async function deliverRows(ctx: PageContext, rows: SourceRow[], positions: Position[], hooks: DeliveryHooks): Promise<PageOutcome> {
  return deliverJudged(ctx, judgePage(ctx, rows, positions), hooks);
}

/** A page mapped and validated, not yet compared with what was delivered. */
export interface JudgedPage {
  read: number;
  /** By external id; later rows of the page win. */
  candidates: Map<string, Candidate>;
  rejections: Rejection[];
}

/**
 * Maps and validates a page: CPU only, no I/O, so a caller can judge the next page while
 * the previous one is being delivered.
 */
export function judgePage(ctx: Pick<PageContext, 'plan' | 'runId'>, rows: SourceRow[], positions: Position[]): JudgedPage {
  const { plan } = ctx;
  const rejections: Rejection[] = [];
  // Later rows win: within a page, rows come in cursor order, so the last is the newest.
  const candidates = new Map<string, Candidate>();
  rows.forEach((row, i) => {
    const position = positions[i]!;
    const verdict = judgeRow(plan, row, position);
    if ('candidate' in verdict) {
      candidates.set(verdict.candidate.externalId, verdict.candidate);
      return;
    }
    rejections.push({
      runId: ctx.runId, tenant: plan.connector.tenant, externalId: verdict.externalId, sourceKey: position.key,
      sourceCursor: position.cursor, fields: verdict.error.fields, reason: verdict.error.message,
    });
  });
  return { read: rows.length, candidates, rejections };
}

/** Delivers a judged page: drops what Reach already has, sends the rest, commits the checkpoint. */
async function deliverJudged(ctx: PageContext, judged: JudgedPage, hooks: DeliveryHooks): Promise<PageOutcome> {
  return (await sendJudged(ctx, judged, hooks)).commit();
}

/** A judged page handed to the sink; `commit` waits for it to be sent and accepted, then stores its checkpoint. */
interface SentJudgedPage {
  /** The page's counts as sent (a commit may still move records Reach refused to rejected). */
  outcome: PageOutcome;
  commit(): Promise<PageOutcome>;
}

/** Drops what Reach already has and sends the rest; the returned commit stores the checkpoint. */
async function sendJudged(ctx: PageContext, judged: JudgedPage, hooks: DeliveryHooks): Promise<SentJudgedPage> {
  const { plan } = ctx;
  const ref: StreamRef = { connectorId: plan.connector.id, stream: plan.stream.name };
  const { candidates, rejections } = judged;
  const known = await loadDelivered(ctx.store, ref, [...candidates.keys()]);
  const upserts: Upsert[] = [];
  const deletes: Delete[] = [];
  const entries: DeliveredEntry[] = [];
  let unchanged = 0;
  for (const c of candidates.values()) {
    const last = known.get(c.externalId);
    const stale = last !== undefined && last.version > c.entry.version;
    const same = last !== undefined && last.contentHash === c.entry.contentHash && last.deleted === c.entry.deleted;
    // A delete of a record never delivered has nothing to remove.
    const nothingToDelete = c.delete !== undefined && last === undefined;
    if (stale || same || nothingToDelete) {
      unchanged++;
      continue;
    }
    if (c.upsert) upserts.push(c.upsert);
    if (c.delete) deletes.push(c.delete);
    entries.push(c.entry);
  }
  const outcome: PageOutcome = {
    read: judged.read, sent: upserts.length, deleted: deletes.length,
    unchanged: unchanged + (judged.read - rejections.length - candidates.size), rejected: rejections.length,
  };
  if (hooks.assertRejectRate) {
    try {
      hooks.assertRejectRate(outcome);
    } catch (error) {
      // The run stops before this page moves anything; the reasons stay visible.
      await quarantine(ctx.store, ref, rejections);
      throw error;
    }
  }
  // Not awaited here: the next page may be sent while this one's requests are still answered.
  const sending = ctx.sink.send({ tenant: plan.connector.tenant, schema: plan.definition.name, upserts, deletes });
  // A failed send surfaces at the commit; until then it must not count as unhandled.
  sending.catch(() => undefined);
  return {
    outcome: { ...outcome },
    commit: async () => {
      await (await sending).commit(async (trx, result) => {
        // Records Reach failed after accepting them are quarantined, not remembered as delivered,
        // so the next change of their row (or retry-rejects) sends them again.
        const refused = refusedByReach(ctx, judged, result.failed);
        const refusedIds = new Set(refused.map((r) => r.externalId));
        const kept = refusedIds.size ? entries.filter((e) => !refusedIds.has(e.externalId)) : entries;
        outcome.sent -= refused.length;
        outcome.rejected += refused.length;
        await recordDelivered(trx, ref, kept);
        await quarantine(trx, ref, [...rejections, ...refused]);
        if (ctx.hasOpenRejections) await resolveQuarantined(trx, ref, [...candidates.values()].map((c) => c.sourceKey));
        await hooks.beforeCommit(trx, outcome);
      });
      return outcome;
    },
  };
}

/**
 * A stream's pages delivered in order, the next page sent while the previous one commits
 * (for Reach: while its batches are processed, which takes far longer than sending them).
 * At most one page commits behind the one being sent, and checkpoints commit in page order.
 *
 * A page sharing an external id with the page still committing waits for that commit
 * first: Reach does not order batches, so the older record could land last; and this
 * page's change detection must see what the previous page delivered.
 */
export class DeliveryPipeline {
  readonly #ctx: PageContext;
  /** Rows of the pages sent so far, for the reject-rate guard. */
  readonly #sent = { read: 0, rejected: 0 };
  /** The commit of the last page sent, and of the page before it. */
  #last: Promise<void> = Promise.resolve();
  #beforeLast: Promise<void> = Promise.resolve();
  #lastIds = new Set<string>();

  constructor(ctx: PageContext) {
    this.#ctx = ctx;
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
    await this.#beforeLast;
    if ([...judged.candidates.keys()].some((id) => this.#lastIds.has(id))) await this.#last;
    const guard = rejectRateGuard(this.#ctx.plan, this.#sent);
    const sent = await sendJudged(this.#ctx, judged, { assertRejectRate: guard, beforeCommit });
    this.#sent.read += sent.outcome.read;
    this.#sent.rejected += sent.outcome.rejected;
    const countReachFailures = (committed: PageOutcome) => {
      this.#sent.rejected += committed.rejected - sent.outcome.rejected;
      if (committed.rejected > sent.outcome.rejected) guard(NOTHING_MORE);
    };
    const previous = this.#last;
    this.#beforeLast = previous;
    this.#lastIds = new Set(judged.candidates.keys());
    // A page commits only after the page before it: a failed commit stops every later one.
    this.#last = previous.then(() => sent.commit()).then((committed) => {
      onCommitted(committed);
      countReachFailures(committed);
    });
    // Awaited by the next push or by drain; until then a failure must not count as unhandled.
    this.#last.catch(() => undefined);
  }

  /** Waits until every page sent has committed; throws the first failure. */
  async drain(): Promise<void> {
    await this.#last;
  }
}

/** Quarantine entries for the page's upserts that Reach failed inside an accepted batch. */
function refusedByReach(ctx: PageContext, judged: JudgedPage, failed: FailedRecord[]): Rejection[] {
  return failed.flatMap((f) => {
    const c = judged.candidates.get(f.externalId);
    if (!c?.upsert) return [];
    return [{
      runId: ctx.runId, tenant: ctx.plan.connector.tenant, externalId: f.externalId, sourceKey: c.sourceKey,
      sourceCursor: c.sourceCursor, fields: [], reason: `Reach failed the record: ${f.message}`,
    }];
  });
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
