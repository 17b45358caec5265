/**
 * The sink that delivers pages to Reach's resources API. Reach answers 202 and processes
 * batches later, in no guaranteed order; the engine orders deliveries itself (claims, see
 * engine/claimed-delivery.ts) and this sink tells it when a batch is done.
 *
 * "Done" is decided on the progress counters, the only part of a batch's status Reach's
 * docs promise: no pending record and every record processed. Status names are a hint: a
 * name this code does not know is logged once, never waited on.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { PermanentError, stopError, TransientError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import type { BatchSink, BatchWindow, FailedRecord, Posted, SinkPage } from '../sink.ts';
import { acceptedBefore, isBatchId, ReachApiClient } from './reach-api-client.ts';
import { ReachRejectedError } from './reach-rejected-error.ts';
import type { ReachApiClientOptions } from './reach-api-client.ts';
import type { BatchInfo } from './reach-api-types.ts';

export interface ReachApiSinkOptions {
  /** A client, or the options to build one. */
  client: ReachApiClient | ReachApiClientOptions;
  /** How long to wait for Reach to process a page's batches (default 10 min). */
  batchWaitMs?: number;
  log?: Logger;
}

const DEFAULT_BATCH_WAIT_MS = 600_000;
// A batch is looked at again after a quarter of the time it has been waited for, 10 ms to 2 s:
// at most a quarter late, where doubling waits was up to twice late (a page confirmed 20-80 ms
// after Reach processed it held the next page back: figure 5 in docs/benchmarks.md).
const MIN_POLL_MS = 10;
const MAX_POLL_MS = 2_000;
const POLL_SHARE_OF_WAIT = 0.25;
const KNOWN_STATUSES = new Set(['PENDING', 'PROCESSING', 'COMPLETED', 'FAILED']);
// Status names already warned about, once per process.
const warnedStatuses = new Set<string>();
const MAX_WARNED_STATUSES = 50;

/** Whether Reach has processed every record of a batch, by its progress counters. */
export function batchDone(batch: Pick<BatchInfo, 'progress'>): boolean {
  const p = batch.progress;
  return p.pendingRecords === 0 && p.processedRecords >= p.totalRecords;
}

// What was posted before a post failed, so the engine can follow those batches too.
const postedBeforeFailure = new WeakMap<object, Posted>();

/** The batches a failed `post` had got accepted before it failed. */
export function postedBefore(error: unknown): Posted {
  return (typeof error === 'object' && error !== null && postedBeforeFailure.get(error)) || { upsertBatchIds: [], deleteBatchIds: [], ambiguous: false };
}

/** Delivers pages through the Reach API. */
export class ReachApiSink implements BatchSink {
  readonly kind = 'reach-api' as const;
  readonly #client: ReachApiClient;
  readonly #batchWaitMs: number;
  readonly #log?: Logger;
  /** The tenant and schema of each page this sink posted, for `processed` to follow its pages in order. */
  readonly #postedTo = new WeakMap<Posted, string>();
  /** Per run (its signal; this sink for calls without one), per tenant and schema: the `processed` of the page posted last. */
  readonly #lastFollowed = new WeakMap<object, Map<string, Promise<unknown>>>();

  constructor(options: ReachApiSinkOptions) {
    this.#client = options.client instanceof ReachApiClient ? options.client : new ReachApiClient(options.client);
    this.#batchWaitMs = options.batchWaitMs ?? DEFAULT_BATCH_WAIT_MS;
    this.#log = options.log;
  }

  async post(page: SinkPage, beforeAttempt: () => void): Promise<Posted> {
    const options = { beforeAttempt };
    // Both settle before the post resolves or rejects, so no request outlives it.
    const [upserted, deleted] = await Promise.allSettled([
      page.upserts.length > 0 ? this.#client.upsert(page.tenant, page.schema, page.upserts.map((u) => u.json), options) : undefined,
      page.deletes.length > 0 ? this.#client.delete(page.tenant, page.schema, page.deletes.map((d) => d.externalId), options) : undefined,
    ]);
    const receipt = (r: typeof upserted) => (r.status === 'fulfilled' ? (r.value ?? { batchIds: [], ambiguous: false }) : acceptedBefore(r.reason));
    const posted: Posted = {
      upsertBatchIds: receipt(upserted).batchIds,
      deleteBatchIds: receipt(deleted).batchIds,
      ambiguous: receipt(upserted).ambiguous || receipt(deleted).ambiguous,
    };
    const failure = upserted.status === 'rejected' ? upserted.reason : deleted.status === 'rejected' ? deleted.reason : undefined;
    if (failure !== undefined) {
      if (typeof failure === 'object' && failure !== null) postedBeforeFailure.set(failure, posted);
      throw failure;
    }
    this.#postedTo.set(posted, JSON.stringify([page.tenant, page.schema]));
    return posted;
  }

  /**
   * A run's page this sink posted is looked at once the run's page of the same tenant and
   * schema whose `processed` began before it is done (or failed): Reach mostly processes
   * batches in the order it accepted them, so the later page is seldom done earlier, and the
   * engine confirms a run's pages in order anyway; pages in flight were each polled all along,
   * several times as often as one. Runs (their signals) never wait on each other: a backfill
   * chunk's slow page holds back no other chunk. Only the start of the looks moves: done is
   * still decided on the page's own counters, and the wait deadline still counts from this
   * call. The run's stop ends the page ahead's wait, and so this one's.
   */
  processed(posted: Posted, signal?: AbortSignal): Promise<FailedRecord[]> {
    const started = Date.now();
    const key = this.#postedTo.get(posted);
    if (key === undefined) return this.#follow(posted, started, signal);
    const run = signal ?? this;
    const last = this.#lastFollowed.get(run) ?? new Map<string, Promise<unknown>>();
    this.#lastFollowed.set(run, last);
    const before = last.get(key) ?? Promise.resolve();
    const mine = before.then(() => this.#follow(posted, started, signal));
    const settled = mine.then(() => undefined, () => undefined);
    last.set(key, settled);
    void settled.then(() => {
      if (last.get(key) === settled) last.delete(key);
    });
    return mine;
  }

  /**
   * Polls a page's batches until each is done, or throws at the wait deadline. Looks grow
   * apart with the time waited since `started` (the page's `processed` call), whether it was
   * spent behind another page or on this one's looks.
   */
  async #follow(posted: Posted, started: number, signal?: AbortSignal): Promise<FailedRecord[]> {
    if (signal?.aborted) throw stopError(signal.reason, 'waiting for Reach to process a page');
    const deadline = started + this.#batchWaitMs;
    const follow = async (id: string, upsert: boolean): Promise<FailedRecord[]> => {
      for (;;) {
        const wait = Math.min(Math.max(MIN_POLL_MS, (Date.now() - started) * POLL_SHARE_OF_WAIT), MAX_POLL_MS);
        const batch = await this.#client.batchStatus(id, signal).catch((error: unknown) => {
          if (error instanceof ReachRejectedError && error.status === 404) return undefined;
          throw signal?.aborted ? stopError(signal.reason, `waiting for batch ${id}`) : error;
        });
        // Reach forgot it (retention, after a send was left unsettled for long): it is done, with an outcome nobody can tell.
        if (!batch) {
          this.#log?.warn({ batch: id }, 'Reach no longer knows a batch the puller sent; its records are taken as unknown and sent again when read');
          return [{ message: `Reach no longer knows batch ${id} (404): what it applied of it is unknown` }];
        }
        this.#checkStatusName(batch);
        // Reach's words are stored (rejected_records.reason) and shown: each goes through the client's redaction.
        const text = (value: unknown) => this.#client.redact(String(value));
        if (batchDone(batch)) {
          // A delete Reach could not apply (the record was not there) leaves it absent all the same.
          if (!upsert) return [];
          const named: FailedRecord[] = (batch.errors?.details ?? []).flatMap((d) => (d.externalId === null ? [] : [{ externalId: d.externalId, message: text(d.message) }]));
          // The counter is certain; the details may leave failures unnamed, which must not pass for delivered.
          const unnamed = batch.progress.failedRecords - named.length;
          if (unnamed <= 0) return named;
          return [...named, { message: `Reach failed ${unnamed} record(s) of batch ${id} without naming them${batch.errors?.summary ? ` (${text(batch.errors.summary)})` : ''}` }];
        }
        if (Date.now() + wait > deadline) {
          throw new TransientError('RP_SINK_UNCONFIRMED',
            `Reach had not processed batch ${id} after ${Math.round(this.#batchWaitMs / 1000)} s ` +
              `(${batch.progress.processedRecords} of ${batch.progress.totalRecords} records processed, status ${text(batch.status)})`);
        }
        await sleep(wait, undefined, { signal }).catch(() => {
          throw stopError(signal?.reason, `waiting for batch ${id}`);
        });
      }
    };
    // The first batch Reach accepted alone, then the others together: Reach mostly processes
    // batches in the order it accepted them, so the others are usually done at their first
    // look, and a page costs about the polls of one batch however many it holds, and one
    // answer's time for the rest (looked at one after another, a slow answer counted per batch).
    const [first, ...others] = [...posted.upsertBatchIds.map((id) => ({ id, upsert: true })), ...posted.deleteBatchIds.map((id) => ({ id, upsert: false }))];
    if (!first) return [];
    const failedFirst = await follow(first.id, first.upsert);
    const failedOthers = await Promise.all(others.map((b) => follow(b.id, b.upsert)));
    return [...failedFirst, ...failedOthers.flat()];
  }

  get target(): string {
    return this.#client.apiUrl;
  }

  async drainUnfinished(tenant: string, schema: string, window: BatchWindow, signal?: AbortSignal): Promise<void> {
    const from = window.from.getTime();
    const to = window.to.getTime();
    // A time that does not parse is taken as inside the window: waiting too long is safe, too short is not.
    const inWindow = (batch: BatchInfo) => {
      const created = Date.parse(batch.createdAt);
      return Number.isNaN(created) || (created >= from && created <= to);
    };
    const unfinished: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.#client.listBatches(tenant, cursor, signal).catch((error: unknown) => {
        throw signal?.aborted ? stopError(signal.reason, 'waiting for Reach to finish earlier batches') : error;
      });
      for (const batch of page.batches) {
        if (batch.tenantId === tenant && batch.schemaName.toLowerCase() === schema.toLowerCase() && !batchDone(batch) && inWindow(batch)) {
          if (!isBatchId(batch.id)) {
            throw new PermanentError('RP_SINK_REJECTED', `Reach listed a batch of tenant ${tenant} with a malformed id (${this.#client.redact(String(batch.id), 40)}): a malformed answer`);
          }
          unfinished.push(batch.id);
        }
      }
      cursor = page.nextCursor ?? undefined;
      if (signal?.aborted) throw stopError(signal.reason, 'waiting for Reach to finish earlier batches');
    } while (cursor);
    if (unfinished.length > 0) {
      this.#log?.info({ tenant, schema, batches: unfinished.length }, 'waiting for Reach to finish batches a crashed or cut-off send may have left');
    }
    await this.processed({ upsertBatchIds: [], deleteBatchIds: unfinished, ambiguous: false }, signal);
  }

  /** Nothing to release: requests use fetch's shared connection pool. */
  async close(): Promise<void> {}

  #checkStatusName(batch: BatchInfo): void {
    if (KNOWN_STATUSES.has(batch.status) || warnedStatuses.has(batch.status)) return;
    // Bounded: a Reach that invents a status per batch gets a warning per batch, not a growing set.
    if (warnedStatuses.size < MAX_WARNED_STATUSES) warnedStatuses.add(batch.status);
    this.#log?.warn({ batch: batch.id, status: this.#client.redact(String(batch.status), 40), progress: batch.progress },
      'Reach reported a batch status this puller does not know; deciding on the progress counters');
  }
}
