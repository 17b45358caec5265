/**
 * Claims on records being sent to Reach (`delivery_sends`, `delivery_claims`): the per-record
 * lock that keeps one delivery order across every run of a stream and every replica.
 *
 * A run opens a send and claims the records it is about to post, in one transaction; a
 * record another send claims is not posted until that send is settled. Settling a send,
 * once Reach has processed its batches, records what it delivered and drops its claims.
 * The sender settles its own sends; a send whose run died is settled by the next run
 * that meets one of its claims (engine/claimed-delivery.ts).
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import { loadDelivered, type DeliveredEntry, type StreamRef } from './delivery-state.ts';
import { guardedId, unguardId } from './external-id-text.ts';
import type { Posted } from '../sinks/sink.ts';
import type { SendState, StoreSchema } from './schema.ts';
import { inLockOrder } from './lock-order.ts';
import { flagColumn, textColumn } from './text-column.ts';

type Db = Kysely<StoreSchema> | Transaction<StoreSchema>;

/** Opens a send of a run (state `posting`: nothing is known of its requests yet). */
export async function openSend(trx: Db, ref: StreamRef, runId: string, tenant: string, schema: string): Promise<string> {
  const row = await trx.insertInto('delivery_sends')
    .values({ connector_id: ref.connectorId, stream: ref.stream, run_id: runId, tenant_id: tenant, schema_name: schema })
    .returning('id').executeTakeFirstOrThrow();
  return row.id;
}

export interface Claims {
  /** Records this send now claims, each with what is delivered for it (undefined: nothing yet). */
  claimed: Map<string, DeliveredEntry | undefined>;
  /** Records another send claims, with what that send carries. */
  inFlight: Map<string, DeliveredEntry>;
}

/**
 * Claims the records no other send claims, for `sendId`. Inside the transaction, what is
 * delivered for a claimed record cannot change until the claim goes.
 */
export async function claimRecords(trx: Db, ref: StreamRef, sendId: string, entries: DeliveredEntry[]): Promise<Claims> {
  const claimed = new Map<string, DeliveredEntry | undefined>();
  const inFlight = new Map<string, DeliveredEntry>();
  if (entries.length === 0) return { claimed, inFlight };
  const ordered = inLockOrder(entries, (e) => e.externalId);
  const ids = ordered.map((e) => e.externalId);
  // What was claimed comes back behind one character (store/external-id-text.ts says why).
  const inserted = await sql<{ guarded_id: string }>`
    insert into delivery_claims (connector_id, stream, external_id, send_id, version, content_hash, deleted)
    select ${ref.connectorId}, ${ref.stream}, x.id, ${sendId}, x.version, x.hash, x.deleted
    from unnest(${textColumn(ids)}, ${textColumn(ordered.map((e) => e.version))},
      ${textColumn(ordered.map((e) => e.contentHash))}, ${flagColumn(ordered.map((e) => e.deleted))}) as x(id, version, hash, deleted)
    on conflict do nothing
    returning ${guardedId()} as guarded_id`.execute(trx);
  for (const r of inserted.rows) claimed.set(unguardId(r.guarded_id), undefined);
  if (claimed.size > 0) {
    const known = await loadDelivered(trx, ref, [...claimed.keys()]);
    for (const [id, entry] of known) claimed.set(id, entry);
  }
  const others = ids.filter((id) => !claimed.has(id));
  if (others.length > 0) {
    const { rows } = await sql<{ guarded_id: string; version: string; content_hash: string; deleted: boolean }>`
      select ${guardedId()} as guarded_id, version, content_hash, deleted from delivery_claims
      where connector_id = ${ref.connectorId} and stream = ${ref.stream} and external_id = any(${textColumn(others)})`.execute(trx);
    for (const r of rows) {
      const externalId = unguardId(r.guarded_id);
      inFlight.set(externalId, { externalId, contentHash: r.content_hash, version: r.version, deleted: r.deleted });
    }
  }
  return { claimed, inFlight };
}

/** Gives up claims of a send (records it decided not to post). */
export async function dropClaims(trx: Db, ref: StreamRef, sendId: string, externalIds: string[]): Promise<void> {
  if (externalIds.length === 0) return;
  await sql`delete from delivery_claims where connector_id = ${ref.connectorId} and stream = ${ref.stream}
    and send_id = ${sendId} and external_id = any(${externalIds}::text[])`.execute(trx);
}

/** Removes a send that claims nothing (every record was decided without posting). */
export async function closeEmptySend(trx: Db, sendId: string): Promise<void> {
  await sql`delete from delivery_sends s where s.id = ${sendId}
    and not exists (select 1 from delivery_claims c where c.send_id = s.id)`.execute(trx);
}

/**
 * What Reach said about a send's requests: the batches it accepted, and whether they hold
 * every record of the send and nothing else (`accepted`), or Reach's account of them is
 * incomplete (`ambiguous`: a post that failed part-way, or a request that may have been
 * taken without an answer).
 */
export async function recordBatches(db: Db, sendId: string, posted: Posted, complete: boolean): Promise<void> {
  await db.updateTable('delivery_sends').set({
    upsert_batch_ids: posted.upsertBatchIds, delete_batch_ids: posted.deleteBatchIds,
    state: complete && !posted.ambiguous ? 'accepted' : 'ambiguous',
  }).where('id', '=', sendId).execute();
}

/**
 * Settles a send Reach has processed: its records, but those Reach failed, become what is
 * delivered (never over a newer version), and its claims go.
 */
export async function settleSend(trx: Db, sendId: string, failedIds: ReadonlySet<string>): Promise<void> {
  await sql`
    insert into delivered (connector_id, stream, external_id, content_hash, version, deleted, updated_at)
    select connector_id, stream, external_id, content_hash, version, deleted, now() from delivery_claims
    where send_id = ${sendId} and not (external_id = any(${[...failedIds]}::text[]))
    on conflict (connector_id, stream, external_id) do update set
      content_hash = excluded.content_hash, version = excluded.version, deleted = excluded.deleted, updated_at = now()
    where delivered.version <= excluded.version collate "C"`.execute(trx);
  await trx.deleteFrom('delivery_sends').where('id', '=', sendId).execute();
}

/** What `delivered` holds for a record Reach may or may not have taken: no content ever equals it. */
export const UNKNOWN_CONTENT = 'unknown';

/**
 * Settles a send whose records cannot be known applied (its post failed part-way, or its run
 * died before Reach answered): each record becomes delivered at the send's version with
 * unknown content, so its next read is sent whatever it holds (a re-send is harmless), while
 * a read older than the send stays older. Its claims go.
 */
export async function forgetSend(trx: Db, sendId: string): Promise<void> {
  await sql`
    insert into delivered (connector_id, stream, external_id, content_hash, version, deleted, updated_at)
    select connector_id, stream, external_id, ${UNKNOWN_CONTENT}, version, false, now() from delivery_claims
    where send_id = ${sendId}
    on conflict (connector_id, stream, external_id) do update set
      content_hash = excluded.content_hash, version = excluded.version, deleted = excluded.deleted, updated_at = now()
    where delivered.version <= excluded.version collate "C"`.execute(trx);
  await trx.deleteFrom('delivery_sends').where('id', '=', sendId).execute();
}

/** A send holding claims on records someone else wants to send, with what is known of its run. */
export interface BlockingSend {
  id: string;
  runId: string;
  tenant: string;
  schema: string;
  state: SendState;
  /** Its batches, as far as they are known (all of them once `accepted`). */
  posted: Posted;
  /** The run ended by itself (not taken for dead): it sends nothing any more. */
  ownerEnded: boolean;
  /** The run's row still says `running` (it may be alive, or dead and not yet taken over). */
  ownerRunning: boolean;
  /** How long ago the run last beat (or ended), by the store's clock. */
  ownerSilentMs: number;
  /** When the send was opened, by the store's clock: none of its requests started earlier. */
  openedAt: Date;
  /** When its run last beat (or ended), by the store's clock; unknown when the run's row is gone. */
  ownerSeenAt?: Date;
}

/** The sends whose claims block these records of a stream. */
export async function blockingSends(db: Db, ref: StreamRef, externalIds: string[]): Promise<BlockingSend[]> {
  if (externalIds.length === 0) return [];
  const { rows } = await sql<{
    id: string; run_id: string; tenant_id: string; schema_name: string; state: SendState;
    upsert_batch_ids: string[]; delete_batch_ids: string[];
    status: string | null; error_code: string | null; silent_ms: string | null; created_at: Date; seen_at: Date | null;
  }>`
    select s.id, s.run_id, s.tenant_id, s.schema_name, s.state, s.upsert_batch_ids, s.delete_batch_ids, r.status, r.error_code,
      s.created_at, greatest(r.heartbeat_at, r.ended_at) as seen_at,
      (extract(epoch from (now() - greatest(r.heartbeat_at, r.ended_at))) * 1000)::bigint as silent_ms
    from delivery_sends s left join runs r on r.id = s.run_id
    where s.id in (select distinct send_id from delivery_claims
      where connector_id = ${ref.connectorId} and stream = ${ref.stream} and external_id = any(${externalIds}::text[]))`.execute(db);
  return rows.map((r) => ({
    id: r.id, runId: r.run_id, tenant: r.tenant_id, schema: r.schema_name, state: r.state,
    posted: { upsertBatchIds: r.upsert_batch_ids, deleteBatchIds: r.delete_batch_ids, ambiguous: r.state !== 'accepted' },
    ownerEnded: r.status === null || (r.status !== 'running' && r.error_code !== 'RP_RUN_ABANDONED'),
    ownerRunning: r.status === 'running',
    ownerSilentMs: r.silent_ms === null ? Number.POSITIVE_INFINITY : Number(r.silent_ms),
    openedAt: new Date(r.created_at), ownerSeenAt: r.seen_at === null ? undefined : new Date(r.seen_at),
  }));
}
