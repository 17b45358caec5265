/**
 * Where mapped records go. The two sinks differ in the one way that decides how the engine
 * orders deliveries (engine/page-delivery.ts), so they are two interfaces, told apart by `kind`:
 *
 * - TransactionalSink (the built-in store): writes a page inside the transaction that also
 *   commits its checkpoint, and itself keeps the newest version of each record.
 * - BatchSink (Reach): accepts batches and applies them later, in any order. The engine
 *   claims each record before it posts it and settles the claim once Reach has processed
 *   the batch, so no two unconfirmed sends of one record are ever in flight.
 */
import type { Kysely, Transaction } from 'kysely';
import type { StoreSchema } from '../store/schema.ts';

/** A record to upsert, with the source version that produced it. */
export interface Upsert {
  externalId: string;
  /** The record as JSON text, built once per row: hashed for change detection, sent as is. */
  json: string;
  /** Sortable text of the row's cursor value (engine/watermark.ts `versionKey`): newer sorts later. */
  version: string;
}

/** A record to delete in Reach. */
export interface Delete {
  externalId: string;
  version: string;
}

/** One page of mapped records for one tenant and one Reach schema; each external id once. */
export interface SinkPage {
  tenant: string;
  schema: string;
  /** The writing stream, `connector/stream`: the built-in store keeps a version per writer. */
  writer: string;
  upserts: Upsert[];
  deletes: Delete[];
  /** No record of the page had a delivery record of the stream when it was decided (a first backfill): the built-in store tries them as new rows. */
  undelivered?: boolean;
}

/** A record Reach accepted in a batch and then failed to store (validation, missing reference). */
export interface FailedRecord {
  /** Undefined: Reach counted failed records in a batch (its progress counters) that its error details do not name. */
  externalId?: string;
  message: string;
}

/** Writes pages in the caller's transaction and keeps the newest version of every record. */
export interface TransactionalSink {
  readonly kind: 'store';
  /** Where records land, as a stream's delivery record names it (engine/stream-identity.ts). */
  readonly target: string;
  /** Writes the page; a record older than the stored one changes nothing. Returns how many were skipped as older. */
  write(trx: Transaction<StoreSchema>, page: SinkPage): Promise<number>;
  close(): Promise<void>;
}

/** Reach's batches of one page: the ids it accepted, and whether some request's fate is unknown. */
export interface Posted {
  upsertBatchIds: string[];
  deleteBatchIds: string[];
  /** Some request may have been taken by Reach without an answer: a batch no id names may exist. */
  ambiguous: boolean;
}

/** When the batches a send may have left were created, by Reach's clock (the caller allows for skew). */
export interface BatchWindow {
  from: Date;
  to: Date;
}

/** Accepts batches and applies them later, in any order. */
export interface BatchSink {
  readonly kind: 'reach-api';
  /** Where records land, as a stream's delivery record names it: Reach's API URL (engine/stream-identity.ts). */
  readonly target: string;
  /**
   * Posts a page. `beforeAttempt` runs before every request and retry and may throw to stop
   * it. A failure carries what was accepted before it (`postedBefore`).
   */
  post(page: SinkPage, beforeAttempt: () => void): Promise<Posted>;
  /**
   * Resolves once Reach has processed every batch, with the upserts it failed (one entry
   * without an id for failures it counted and did not name); throws RP_SINK_UNCONFIRMED at its wait deadline.
   */
  processed(posted: Posted, signal?: AbortSignal): Promise<FailedRecord[]>;
  /**
   * Waits until every batch of the tenant and schema that Reach lists as unfinished now, and
   * that Reach says it created within `window`, has finished: after it, no batch posted in
   * that window can still be applied. Batches outside it (the partner's own pushes, say,
   * pending on a dependency for a day) are not waited for.
   */
  drainUnfinished(tenant: string, schema: string, window: BatchWindow, signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export type Sink = TransactionalSink | BatchSink;

/** The store the engine commits checkpoints and delivery records to. */
export type StateStore = Kysely<StoreSchema>;
