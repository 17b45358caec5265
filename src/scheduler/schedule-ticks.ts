/**
 * Cron ticks shared by every `serve` replica on one store: each replica schedules every
 * connector, and the one whose upsert moves `last_tick` forward fires the tick
 * (graphile-worker's cron style), so a tick runs once however many replicas see it. A
 * connector's pull schedule and verify schedule tick apart (one row per job).
 */
import { sql, type Kysely } from 'kysely';
import type { ScheduledJob, StoreSchema } from '../store/schema.ts';

/** Claims one cron tick of a connector's job: true for the one replica (and call) that fires it. */
export async function claimTick(db: Kysely<StoreSchema>, connectorId: string, job: ScheduledJob, tick: Date, holder: string): Promise<boolean> {
  const rows = await sql<{ connector_id: string }>`
    insert into schedule_ticks (connector_id, job, last_tick, fired_by) values (${connectorId}, ${job}, ${tick}, ${holder})
    on conflict (connector_id, job) do update
      set last_tick = excluded.last_tick, fired_by = excluded.fired_by, updated_at = now()
      where schedule_ticks.last_tick < excluded.last_tick
    returning connector_id`.execute(db);
  return rows.rows.length === 1;
}
