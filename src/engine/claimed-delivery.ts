/**
 * Delivery of one page to a BatchSink (Reach) under claims, so that Reach, which applies
 * batches in any order, never holds two unconfirmed sends of one record:
 *
 * 1. claim: in one transaction (fenced: the run still holds its stream), open a send, claim
 *    the page's records no other send claims, and decide each against what is delivered.
 *    Records decided without posting (unchanged, stale, a remembered delete or a newer
 *    version of the same content) are recorded and unclaimed at once.
 * 2. post what is left, the run's send deadline checked before every request; record the
 *    batches Reach accepted.
 * 3. settle: once Reach has processed them, what it applied becomes `delivered` and the
 *    claims go; what it failed goes to quarantine.
 *
 * Records another send claims wait and go through the same steps once that send is settled.
 * A send whose run died is settled by the run that waits for it. When Reach answered every
 * request of it, its batches are followed and what Reach applied is recorded. Otherwise (it
 * died before Reach answered, or its post failed part-way) what Reach holds of its records is
 * unknown: after the dead run's send deadline (no post of it can still start) and once every
 * batch Reach lists as unfinished has finished (one may be it), they are recorded as unknown,
 * so each is sent again on its next read (a re-send is harmless).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { stopError } from '../errors.ts';
import type { BatchSink, BatchWindow, FailedRecord, Posted } from '../sinks/sink.ts';
import { postedBefore } from '../sinks/reach-api/reach-api-sink.ts';
import {
  blockingSends, claimRecords, closeEmptySend, dropClaims, forgetSend, openSend, recordBatches, settleSend, type BlockingSend,
} from '../store/delivery-claims.ts';
import { quarantine, recordDelivered, type DeliveredEntry, type Rejection } from '../store/delivery-state.ts';
import { holdsOf } from '../store/holds.ts';
import { isLiveHere, RUN_TIMING } from '../store/run-records.ts';
import { decide } from './delivery-order.ts';
import { emptyOutcome, streamRef, type Candidate, type JudgedPage, type PageContext, type PageOutcome } from './page-judgement.ts';
import { streamWriter } from './stream-plan.ts';

const FIRST_WAIT_MS = 20;
const MAX_WAIT_MS = 500;

/** One page's records on their way to Reach under claims. */
export class ClaimedPage {
  readonly #ctx: PageContext;
  readonly #sink: BatchSink;
  readonly #judged: JudgedPage;
  readonly #outcome: PageOutcome;
  /** Settles of the sends posted so far, and of the records still waiting. */
  readonly #settles: Promise<void>[] = [];
  /** Records Reach failed inside accepted batches: their quarantine entries stay open. */
  readonly refused = new Set<string>();

  constructor(ctx: PageContext, sink: BatchSink, judged: JudgedPage) {
    this.#ctx = ctx;
    this.#sink = sink;
    this.#judged = judged;
    this.#outcome = emptyOutcome(judged);
  }

  /** Claims and posts what can go now; records another send holds follow in the background. */
  async start(): Promise<void> {
    const waiting = await this.#round([...this.#judged.candidates.values()]);
    if (waiting.length > 0) this.#track(this.#waitAndSend(waiting));
  }

  /** The counts as far as decided. */
  outcomeSoFar(): PageOutcome {
    return { ...this.#outcome };
  }

  /** Resolves once every record is settled, with the page's counts; throws the first failure. */
  async settled(): Promise<PageOutcome> {
    // New settles may be added while earlier ones run (records that waited): await until none is left.
    for (let seen = 0; seen < this.#settles.length;) {
      const pending = this.#settles.slice(seen);
      seen += pending.length;
      await Promise.all(pending);
    }
    return { ...this.#outcome };
  }

  #track(work: Promise<void>): void {
    // Awaited by `settled`; until then a failure must not count as unhandled.
    work.catch(() => undefined);
    this.#settles.push(work);
  }

  /** One claim-decide-post round; returns the candidates another send still holds. */
  async #round(candidates: Candidate[]): Promise<Candidate[]> {
    if (candidates.length === 0) return [];
    const { store, run } = this.#ctx;
    const ref = streamRef(this.#ctx);
    const waiting: Candidate[] = [];
    const toPost: Candidate[] = [];
    const sendId = await store.transaction().execute(async (trx) => {
      await run.fence(trx, 'share');
      const id = await openSend(trx, ref, run.id, this.#ctx.plan.connector.tenant, this.#ctx.plan.definition.name);
      const { claimed, inFlight } = await claimRecords(trx, ref, id, candidates.map((c) => c.entry));
      const remember: DeliveredEntry[] = [];
      const release: string[] = [];
      for (const c of candidates) {
        // Not claimed and no claim found: the other send settled in between; try again.
        const verdict = claimed.has(c.externalId) ? decide(c.entry, claimed.get(c.externalId))
          : inFlight.has(c.externalId) ? decide(c.entry, undefined, inFlight.get(c.externalId)) : 'wait';
        if (verdict === 'wait') waiting.push(c);
        else if (verdict === 'send') toPost.push(c);
        else {
          this.#outcome.unchanged++;
          if (!claimed.has(c.externalId)) continue;
          release.push(c.externalId);
          if (verdict === 'bump' || verdict === 'tombstone') remember.push(c.entry);
        }
      }
      await recordDelivered(trx, ref, remember);
      await dropClaims(trx, ref, id, release);
      if (toPost.length === 0) await closeEmptySend(trx, id);
      return id;
    });
    if (toPost.length > 0) this.#track(this.#postAndSettle(sendId, toPost));
    return waiting;
  }

  /** Posts a send's records and settles it once Reach has processed them. */
  async #postAndSettle(sendId: string, candidates: Candidate[]): Promise<void> {
    const { store, run } = this.#ctx;
    const page = {
      tenant: this.#ctx.plan.connector.tenant, schema: this.#ctx.plan.definition.name, writer: streamWriter(streamRef(this.#ctx)),
      upserts: candidates.flatMap((c) => (c.upsert ? [c.upsert] : [])),
      deletes: candidates.flatMap((c) => (c.delete ? [c.delete] : [])),
    };
    let posted: Posted;
    const openedAt = new Date();
    try {
      posted = await this.#sink.post(page, () => run.assertMaySend());
    } catch (error) {
      // What Reach accepted before the failure stays claimed until it is processed.
      await recordBatches(store, sendId, postedBefore(error), false).catch(() => undefined);
      // The run fails. Records of its other pages may wait for this send, which only a later
      // run settles (after the send deadline): they stop waiting now.
      run.stop(error);
      throw error;
    }
    await recordBatches(store, sendId, posted, true);
    const failed = await this.#sink.processed(posted, run.signal);
    // A request of it may have been taken twice, once without an answer: that copy too must be applied before the claims go.
    if (posted.ambiguous) await this.#sink.drainUnfinished(page.tenant, page.schema, reachWindow(openedAt, Date.now()), run.signal);
    const refused = this.#refused(failed, candidates);
    await store.transaction().execute(async (trx) => {
      await run.fence(trx, 'share');
      await settleSend(trx, sendId, new Set(refused.map((r) => r.externalId!)));
      if (refused.length > 0) {
        await quarantine(trx, streamRef(this.#ctx), refused);
        this.#ctx.openRejections.value = true;
      }
    });
    for (const r of refused) this.refused.add(r.externalId!);
    this.#outcome.sent += page.upserts.length - refused.length;
    this.#outcome.deleted += page.deletes.length;
    this.#outcome.rejected += refused.length;
  }

  /**
   * Quarantine entries for the posted upserts Reach failed after accepting them. When it
   * counted failures it did not name, every upsert of the send goes: retry-rejects sends
   * them again, which costs a resend of the ones that were stored, and loses none.
   */
  #refused(failed: FailedRecord[], sent: Candidate[]): Rejection[] {
    const unnamed = failed.find((f) => f.externalId === undefined);
    const entries = unnamed ? sent.map((c) => ({ c, message: unnamed.message })) : failed.map((f) => ({ c: this.#judged.candidates.get(f.externalId!), message: f.message }));
    return entries.flatMap(({ c, message }) => {
      if (!c?.upsert) return [];
      return [{
        runId: this.#ctx.run.id, tenant: this.#ctx.plan.connector.tenant, externalId: c.externalId, sourceKey: c.sourceKey,
        sourceCursor: c.sourceCursor, fields: [], reason: `Reach failed the record: ${message}`,
      }];
    });
  }

  /** Waits until the sends holding these records are settled (settling a dead run's itself), then claims them again. */
  async #waitAndSend(waiting: Candidate[]): Promise<void> {
    const { store, run } = this.#ctx;
    const ref = streamRef(this.#ctx);
    let left = waiting;
    for (let pause = FIRST_WAIT_MS; left.length > 0; pause = Math.min(pause * 2, MAX_WAIT_MS)) {
      const blocking = await blockingSends(store, ref, left.map((c) => c.externalId));
      const orphans = blocking.filter((s) => this.#mayBeSettledHere(s));
      for (const send of orphans) await this.#settleOrphan(send);
      if (blocking.length > orphans.length) {
        if (run.signal.aborted) throw stopError(run.signal.reason, `run ${run.id}, while records of it waited for earlier sends,`);
        await sleep(pause);
        continue;
      }
      left = await this.#round(left);
      pause = FIRST_WAIT_MS / 2;
    }
  }

  /**
   * Whether another run's send can be settled by this one: that run will not settle it, and
   * no request of it can still be on its way. A send whose requests were all answered can be
   * settled once its run is over or taken for dead. One that may still be posting waits until
   * a request started at the last moment its run could start one (its send deadline after its
   * last beat; its end, if it ended) would have arrived: a dead process's request may still be
   * in the network, whatever the store can tell about the process.
   */
  #mayBeSettledHere(send: BlockingSend): boolean {
    if (send.runId === this.#ctx.run.id) return false;
    const running = send.ownerRunning && !(holdsOf(this.#ctx.store).exclusive && !isLiveHere(send.runId));
    if (send.state === 'accepted') return !running || send.ownerSilentMs > RUN_TIMING.sendDeadlineMs;
    return send.ownerSilentMs > (send.ownerEnded ? 0 : RUN_TIMING.sendDeadlineMs) + RUN_TIMING.requestGraceMs;
  }

  /** Settles a send its run left behind: records what Reach applied of it, or, when that cannot be known, that it is unknown. */
  async #settleOrphan(send: BlockingSend): Promise<void> {
    const { store, run } = this.#ctx;
    const failed = await this.#sink.processed(send.posted, run.signal);
    const known = send.state === 'accepted';
    // Some request of it may have been taken with no answer: wait out every unfinished batch
    // Reach created while one could have arrived (see #mayBeSettledHere for the last moment).
    if (!known) await this.#sink.drainUnfinished(send.tenant, send.schema, requestWindow(send), run.signal);
    await store.transaction().execute(async (trx) => {
      await run.fence(trx, 'share');
      // Failures Reach did not name leave what it stored of the send unknown, as an unanswered request does.
      if (known && failed.every((f) => f.externalId !== undefined)) await settleSend(trx, send.id, new Set(failed.map((f) => f.externalId!)));
      else await forgetSend(trx, send.id);
    });
  }
}

/** From the send's opening to the last moment a request of it could have reached Reach. */
function requestWindow(send: BlockingSend): BatchWindow {
  const lastStart = send.ownerSeenAt && send.ownerSeenAt.getTime() + (send.ownerEnded ? 0 : RUN_TIMING.sendDeadlineMs);
  return reachWindow(send.openedAt, lastStart === undefined ? Date.now() : lastStart + RUN_TIMING.requestGraceMs);
}

/** A span of our clocks as Reach's clock may show it. */
function reachWindow(from: Date, to: number): BatchWindow {
  return { from: new Date(from.getTime() - RUN_TIMING.reachClockSkewMs), to: new Date(to + RUN_TIMING.reachClockSkewMs) };
}
