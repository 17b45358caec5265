/**
 * Cron ticks shared by every `serve` replica on one store: each replica schedules every
 * connector, and the one whose upsert moves `last_tick` forward fires the tick
 * (graphile-worker's cron style), so a tick runs once however many replicas see it.
 */
import { sql, type Kysely } from 'kysely';
import type { StoreSchema } from '../store/schema.ts';

/** Claims one cron tick of a connector: true for the one replica (and call) that fires it. */
export async function claimTick(db: Kysely<StoreSchema>, connectorId: string, tick: Date, holder: string): Promise<boolean> {
  const rows = await sql<{ connector_id: string }>`
    insert into schedule_ticks (connector_id, last_tick, fired_by) values (${connectorId}, ${tick}, ${holder})
    on conflict (connector_id) do update
      set last_tick = excluded.last_tick, fired_by = excluded.fired_by, updated_at = now()
      where schedule_ticks.last_tick < excluded.last_tick
    returning connector_id`.execute(db);
  return rows.rows.length === 1;
}
