/**
 * The sink that delivers pages to Reach's resources API. A page's checkpoint is committed
 * only after Reach accepted (202) every request of the page. Delivering a page again after a
 * crash is harmless: upserts merge to the same state, and deleting a record already gone
 * only fails that record inside its batch.
 */
import type { ResourceRecord } from '../../interfaces.ts';
import type { Checkpoint, Delete, PageReceipt, Sink, SinkPage, StateStore, Upsert } from '../sink.ts';
import { ReachApiClient } from './reach-api-client.ts';
import type { ReachApiClientOptions } from './reach-api-client.ts';

export interface ReachApiSinkOptions {
  /** A client, or the options to build one. */
  client: ReachApiClient | ReachApiClientOptions;
  /** Where checkpoints are committed. */
  store: StateStore;
}

/** Delivers pages through the Reach API, then commits their checkpoints. */
export class ReachApiSink implements Sink {
  readonly kind = 'reach-api';
  readonly #client: ReachApiClient;
  readonly #store: StateStore;

  constructor(options: ReachApiSinkOptions) {
    this.#client = options.client instanceof ReachApiClient ? options.client : new ReachApiClient(options.client);
    this.#store = options.store;
  }

  async deliverPage(page: SinkPage, checkpoint: Checkpoint): Promise<PageReceipt> {
    const { records, deleteIds } = latestPerExternalId(page);
    // Both settle before the page resolves or rejects, so no request outlives the page.
    const [upserted, deleted] = await Promise.allSettled([
      this.#client.upsert(page.tenant, page.schema, records),
      this.#client.delete(page.tenant, page.schema, deleteIds),
    ]);
    if (upserted.status === 'rejected') throw upserted.reason;
    if (deleted.status === 'rejected') throw deleted.reason;
    await this.#store.transaction().execute((trx) => checkpoint(trx));
    return { batchIds: [...upserted.value.batchIds, ...deleted.value.batchIds], staleSkipped: 0 };
  }

  /** Nothing to release: requests use fetch's shared connection pool, and the store is the caller's. */
  async close(): Promise<void> {}
}

/**
 * Keeps one action per external id: the one with the newest version, the later on a tie
 * (deletes count as later than upserts). Requests of a page run concurrently and Reach
 * does not order across batches, so an id sent twice could land in either order.
 */
function latestPerExternalId(page: SinkPage): { records: ResourceRecord[]; deleteIds: string[] } {
  const latest = new Map<string, Upsert | Delete>();
  for (const action of [...page.upserts, ...page.deletes]) {
    const previous = latest.get(action.externalId);
    if (!previous || action.version >= previous.version) latest.set(action.externalId, action);
  }
  const kept = new Set(latest.values());
  return {
    records: page.upserts.filter((u) => kept.has(u)).map((u) => u.record),
    deleteIds: page.deletes.filter((d) => kept.has(d)).map((d) => d.externalId),
  };
}
