/**
 * The one interface the engine delivers through, in two steps: `send` hands the records
 * over, `commit` resolves only when every record of the page is durably accepted AND the
 * page's checkpoint has been committed; if it rejects, the watermark stays.
 */
import type { Kysely, Transaction } from 'kysely';
import type { StoreSchema } from '../store/schema.ts';

/** A record to upsert, with the source version that produced it. */
export interface Upsert {
  externalId: string;
  /** The record as JSON text, built once per row: hashed for change detection, sent as is. */
  json: string;
  /** Sortable text of the row's cursor value (see engine/version-key.ts): newer sorts later. */
  version: string;
}

/** A record to delete in Reach. */
export interface Delete {
  externalId: string;
  version: string;
}

/** One page of mapped records for one tenant and one Reach schema. */
export interface SinkPage {
  tenant: string;
  schema: string;
  upserts: Upsert[];
  deletes: Delete[];
}

/** A record Reach accepted in a batch and then failed to store (validation, missing reference). */
export interface FailedRecord {
  externalId: string;
  message: string;
}

/** What the sink learned about a page before its checkpoint commits. */
export interface PageResult {
  /** Records Reach reported failed; they go to quarantine instead of counting as delivered. */
  failed: FailedRecord[];
}

/** Writes the state that covers the page (watermark, change hashes) in the store transaction. */
export type Checkpoint = (trx: Transaction<StoreSchema>, result: PageResult) => Promise<void>;

/** What Reach (or the store) made of a page. */
export interface PageReceipt {
  /** Batch ids returned by Reach (empty for the built-in store). */
  batchIds: string[];
  /** Upserts the store skipped because it already held a newer version. */
  staleSkipped: number;
}

export interface Sink {
  readonly kind: 'reach-api' | 'store';
  /**
   * Hands a page's records over (Reach: every request answered 202; the store: nothing yet).
   * The engine may send the next page while this one commits.
   */
  send(page: SinkPage): Promise<SentPage>;
  close(): Promise<void>;
}

/** A sent page, not yet confirmed. */
export interface SentPage {
  /**
   * Resolves once every record of the page is durably accepted AND the checkpoint has been
   * committed; if it rejects, nothing of the checkpoint was committed.
   */
  commit(checkpoint: Checkpoint): Promise<PageReceipt>;
}

/** Sends one page and commits its checkpoint, with nothing overlapping. */
export async function deliverPage(sink: Sink, page: SinkPage, checkpoint: Checkpoint): Promise<PageReceipt> {
  return (await sink.send(page)).commit(checkpoint);
}

/** The store the sinks commit checkpoints to. */
export type StateStore = Kysely<StoreSchema>;
