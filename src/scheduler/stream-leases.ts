/**
 * Leases and tick claims in the state store's PostgreSQL: how several `serve` replicas share
 * the work without a protocol of their own. A lease names the replica running a stream and
 * expires unless renewed, so a dead replica's streams are free again after `seconds`.
 */
import { sql, type Kysely } from 'kysely';
import type { StreamRef } from '../store/delivery-state.ts';
import type { StoreSchema } from '../store/schema.ts';

type Db = Kysely<StoreSchema>;

/** Why a lease was not granted: another replica runs the stream, or its source is at its cap. */
export type LeaseOutcome = 'held' | 'taken' | 'source-full';

/**
 * Claims a stream for `holder` when no live lease exists and the stream's source has fewer
 * live leases than `sourceCap` across every replica, so a partner's max_connections holds for
 * the whole fleet, not per process. The count and the claim are serialised per source.
 */
export async function acquireLease(db: Db, ref: StreamRef, holder: string, seconds: number, source: { id: string; cap: number }): Promise<LeaseOutcome> {
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtext(${`reach-puller source ${source.id}`}))`.execute(trx);
    const busy = await sql<{ n: string }>`
      select count(*) as n from stream_leases l join connectors c on c.id = l.connector_id
      where c.source_id = ${source.id} and l.expires_at >= now()
        and not (l.connector_id = ${ref.connectorId} and l.stream = ${ref.stream})`.execute(trx);
    if (Number(busy.rows[0]!.n) >= source.cap) return 'source-full';
    const rows = await sql<{ holder: string }>`
      insert into stream_leases (connector_id, stream, holder, expires_at)
      values (${ref.connectorId}, ${ref.stream}, ${holder}, now() + make_interval(secs => ${seconds}))
      on conflict (connector_id, stream) do update
        set holder = excluded.holder, expires_at = excluded.expires_at, acquired_at = now()
        where stream_leases.expires_at < now()
      returning holder`.execute(trx);
    return rows.rows.length === 1 ? 'held' : 'taken';
  });
}

/**
 * Extends a held lease and beats the stream's running pull; false when the lease was lost
 * (it expired and another replica took it), so the caller must stop.
 */
export async function renewLease(db: Db, ref: StreamRef, holder: string, seconds: number): Promise<boolean> {
  const r = await db.updateTable('stream_leases')
    .set({ expires_at: sql<Date>`now() + make_interval(secs => ${seconds})` })
    .where('connector_id', '=', ref.connectorId).where('stream', '=', ref.stream).where('holder', '=', holder)
    .executeTakeFirst();
  if (r.numUpdatedRows === 0n) return false;
  // Holding the lease, the running pull of this stream is ours: keep it from looking abandoned.
  await db.updateTable('runs').set({ heartbeat_at: sql<Date>`now()` })
    .where('connector_id', '=', ref.connectorId).where('stream', '=', ref.stream)
    .where('status', '=', 'running').where('kind', '<>', 'backfill').execute();
  return true;
}

/** Gives a lease back so another replica can run the stream at once. */
export async function releaseLease(db: Db, ref: StreamRef, holder: string): Promise<void> {
  await db.deleteFrom('stream_leases')
    .where('connector_id', '=', ref.connectorId).where('stream', '=', ref.stream).where('holder', '=', holder)
    .execute();
}

/**
 * Claims one cron tick of a connector: the replica whose upsert moves `last_tick` forward
 * fires it; every other replica (and this one, twice) gets false.
 */
export async function claimTick(db: Db, connectorId: string, tick: Date, holder: string): Promise<boolean> {
  const rows = await sql<{ connector_id: string }>`
    insert into schedule_ticks (connector_id, last_tick, fired_by) values (${connectorId}, ${tick}, ${holder})
    on conflict (connector_id) do update
      set last_tick = excluded.last_tick, fired_by = excluded.fired_by, updated_at = now()
      where schedule_ticks.last_tick < excluded.last_tick
    returning connector_id`.execute(db);
  return rows.rows.length === 1;
}
