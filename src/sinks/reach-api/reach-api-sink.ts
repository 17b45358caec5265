/**
 * The sink that delivers pages to Reach's resources API. A page's checkpoint is committed
 * only after Reach accepted (202) every request of the page. Delivering a page again after a
 * crash is harmless: upserts merge to the same state, and deleting a record already gone
 * only fails that record inside its batch.
 *
 * Reach processes accepted batches asynchronously and may still fail single records (a
 * schema it validates more strictly, a missing reference). The sink follows each upsert
 * batch (`GET /api/batches/{id}`) until it is processed, within `batchWaitMs`, and hands the
 * failed records to the checkpoint, which quarantines them instead of counting them delivered.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../log.ts';
import type { Delete, FailedRecord, SentPage, Sink, SinkPage, StateStore, Upsert } from '../sink.ts';
import { ReachApiClient } from './reach-api-client.ts';
import type { ReachApiClientOptions } from './reach-api-client.ts';

export interface ReachApiSinkOptions {
  /** A client, or the options to build one. */
  client: ReachApiClient | ReachApiClientOptions;
  /** Where checkpoints are committed. */
  store: StateStore;
  /** How long to follow accepted upsert batches for per-record failures (default 2 min; 0: do not follow). */
  batchWaitMs?: number;
  log?: Logger;
}

const DEFAULT_BATCH_WAIT_MS = 120_000;
const FIRST_POLL_MS = 20;
const MAX_POLL_MS = 2_000;

/** Delivers pages through the Reach API, then commits their checkpoints. */
export class ReachApiSink implements Sink {
  readonly kind = 'reach-api';
  readonly #client: ReachApiClient;
  readonly #store: StateStore;
  readonly #batchWaitMs: number;
  readonly #log?: Logger;

  constructor(options: ReachApiSinkOptions) {
    this.#client = options.client instanceof ReachApiClient ? options.client : new ReachApiClient(options.client);
    this.#store = options.store;
    this.#batchWaitMs = options.batchWaitMs ?? DEFAULT_BATCH_WAIT_MS;
    this.#log = options.log;
  }

  /** Sends the page's requests and starts following their batches; the commit waits for them, then commits the checkpoint. */
  async send(page: SinkPage): Promise<SentPage> {
    const { records, deleteIds } = latestPerExternalId(page);
    // Both settle before the send resolves or rejects, so no request outlives it.
    const [upserted, deleted] = await Promise.allSettled([
      this.#client.upsert(page.tenant, page.schema, records),
      this.#client.delete(page.tenant, page.schema, deleteIds),
    ]);
    if (upserted.status === 'rejected') throw upserted.reason;
    if (deleted.status === 'rejected') throw deleted.reason;
    // Followed from now on, so a page's batches are watched while an earlier page commits.
    // Only upserts: a delete of a record Reach no longer has fails harmlessly in its batch.
    const following = this.#failedRecords(upserted.value.batchIds);
    // Its failure surfaces at the commit; until then it must not count as unhandled.
    following.catch(() => undefined);
    return {
      commit: async (checkpoint) => {
        const failed = await following;
        await this.#store.transaction().execute((trx) => checkpoint(trx, { failed }));
        return { batchIds: [...upserted.value.batchIds, ...deleted.value.batchIds], staleSkipped: 0 };
      },
    };
  }

  /** Records the batches failed, once processed; a batch still running at the deadline is logged and trusted. */
  async #failedRecords(batchIds: string[]): Promise<FailedRecord[]> {
    if (this.#batchWaitMs <= 0) return [];
    const deadline = Date.now() + this.#batchWaitMs;
    const perBatch = await Promise.all(batchIds.map(async (id) => {
      for (let wait = FIRST_POLL_MS; ; wait = Math.min(wait * 2, MAX_POLL_MS)) {
        const batch = await this.#client.batchStatus(id);
        if (batch.status === 'COMPLETED' || batch.status === 'FAILED') {
          return (batch.errors?.details ?? []).flatMap((d) => (d.externalId === null ? [] : [{ externalId: d.externalId, message: d.message }]));
        }
        if (Date.now() + wait > deadline) {
          this.#log?.warn({ batch: id, status: batch.status, progress: batch.progress }, 'batch still processing at the wait deadline; its records count as delivered');
          return [];
        }
        await sleep(wait);
      }
    }));
    return perBatch.flat();
  }

  /** Nothing to release: requests use fetch's shared connection pool, and the store is the caller's. */
  async close(): Promise<void> {}
}

/**
 * Keeps one action per external id: the one with the newest version, the later on a tie
 * (deletes count as later than upserts). Requests of a page run concurrently and Reach
 * does not order across batches, so an id sent twice could land in either order.
 */
function latestPerExternalId(page: SinkPage): { records: string[]; deleteIds: string[] } {
  const latest = new Map<string, Upsert | Delete>();
  for (const action of [...page.upserts, ...page.deletes]) {
    const previous = latest.get(action.externalId);
    if (!previous || action.version >= previous.version) latest.set(action.externalId, action);
  }
  const kept = new Set(latest.values());
  return {
    records: page.upserts.filter((u) => kept.has(u)).map((u) => u.json),
    deleteIds: page.deletes.filter((d) => kept.has(d)).map((d) => d.externalId),
  };
}
