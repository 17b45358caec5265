/**
 * What a stream's delivery record was made against. Its watermark, delivered versions and
 * claims say what reached *one* target, in versions of *one* cursor:
 *
 * - The sink. A connector without a `reach:` block delivers where its process's
 *   REACH_API_URL points, or into the built-in store without one. A run from a process
 *   configured otherwise would take for delivered rows its target never got, and a backfill
 *   would seed the watermark past them. So the first run fixes the stream's target, and a
 *   run for another fails (RP_SINK_CHANGED) until ops `reset --forget-delivered` (deliver
 *   everything again there) or `reset --target-moved` (the same Reach at a new address).
 * - The cursor (column, fallback, kind, and the zone of wall-clock values). Versions are its
 *   values as sortable text, compared as text: another cursor's do not compare with them
 *   ('1000…' < '2026-…'). When it changes, the stream is read again from the start with
 *   every remembered version set below any new one; content hashes still keep unchanged
 *   records from being sent again. Only adopted while nothing else reads the stream: under
 *   its hold, with no backfill of it running.
 */
import { sql, type Transaction } from 'kysely';
import { PullerError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { backfillHoldKey } from '../backfill/backfill-store.ts';
import type { Sink, StateStore } from '../sinks/sink.ts';
import { saveWatermark, type StreamRef } from '../store/delivery-state.ts';
import { holdsOf } from '../store/holds.ts';
import { streamHoldKey } from '../store/run-records.ts';
import type { StoreSchema } from '../store/schema.ts';
import { streamWriter, type StreamPlan } from './stream-plan.ts';

/** The cursor a stream's versions come from, as text an operator can read in a log. */
export function cursorSignature(plan: StreamPlan): string {
  const { stream, cursorKind, timezone } = plan;
  return [stream.cursor + (stream.cursor_fallback ? `|${stream.cursor_fallback}` : ''), cursorKind, ...(cursorKind === 'local' ? [timezone] : [])].join(' ');
}

export interface AdoptOptions {
  /** The caller holds the stream (a pull, retry or reconcile run); a backfill does not. */
  holdsStream: boolean;
  /** A backfill adopting for itself: its own hold does not count as a backfill running beside. */
  backfillId?: string;
  log: Logger;
}

/**
 * Checks the stream's target and cursor against what its delivery record was made with (set
 * on first use), and adopts a new cursor. Returns true when it did: the watermark is gone.
 */
export async function adoptStreamIdentity(store: StateStore, ref: StreamRef, plan: StreamPlan, sink: Sink, options: AdoptOptions): Promise<boolean> {
  const cursor = cursorSignature(plan);
  const current = await store.selectFrom('streams').select(['delivers_to', 'cursor_signature'])
    .where('connector_id', '=', ref.connectorId).where('name', '=', ref.stream).executeTakeFirst();
  const changing = current?.cursor_signature != null && current.cursor_signature !== cursor;
  // A change waits for every reader of the stream: a run still reading with the old cursor would write old versions back.
  const hold = changing && !options.holdsStream ? await holdsOf(store).tryTake(streamHoldKey(ref)) : undefined;
  if (changing && !options.holdsStream && !hold) {
    throw new PullerError('RP_STREAM_BUSY', `stream ${ref.connectorId}/${ref.stream} changed its cursor to ${cursor}; ` +
      'a run of it is reading with the old one: start again once it has ended');
  }
  try {
    if (changing) await refuseBesideBackfill(store, ref, options.backfillId, `changed its cursor to ${cursor}`);
    return await store.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('streams').select(['delivers_to', 'cursor_signature'])
        .where('connector_id', '=', ref.connectorId).where('name', '=', ref.stream).forUpdate().executeTakeFirstOrThrow();
      if (row.delivers_to !== null && row.delivers_to !== sink.target) {
        throw new PullerError('RP_SINK_CHANGED', `stream ${ref.connectorId}/${ref.stream} delivers to ${row.delivers_to}, ` +
          `but this process would deliver it to ${sink.target}. Run it where that target is configured; if it is the same Reach at a ` +
          `new address, \`reach-puller reset ${ref.connectorId} --stream ${ref.stream} --target-moved\`; to deliver every row again to the ` +
          `new target, \`reset ... --forget-delivered\``);
      }
      const changed = row.cursor_signature !== null && row.cursor_signature !== cursor;
      if (changed) await forgetVersions(trx, ref);
      if (changed || row.delivers_to === null || row.cursor_signature === null) {
        await trx.updateTable('streams').set({ delivers_to: sink.target, cursor_signature: cursor })
          .where('connector_id', '=', ref.connectorId).where('name', '=', ref.stream).execute();
      }
      if (changed) {
        options.log.warn({ connector: ref.connectorId, stream: ref.stream, before: row.cursor_signature, after: cursor },
          'the stream\'s cursor changed: reading it again from the start (unchanged records are not sent again)');
      }
      return changed;
    });
  } finally {
    await hold?.release();
  }
}

/** Refuses a change of the delivery record while a backfill of the stream runs (RP_STREAM_BUSY). */
async function refuseBesideBackfill(store: StateStore, ref: StreamRef, own: string | undefined, what: string): Promise<void> {
  const running = await store.selectFrom('backfills').select('id')
    .where('connector_id', '=', ref.connectorId).where('stream', '=', ref.stream).where('status', '=', 'running').execute();
  for (const { id } of running) {
    if (id !== own && (await holdsOf(store).isHeld(backfillHoldKey(id)))) {
      throw new PullerError('RP_STREAM_BUSY', `stream ${ref.connectorId}/${ref.stream} ${what}, ` +
        `but backfill ${id} is delivering it: the change is taken once it ends (or is cancelled)`);
    }
  }
}

/**
 * `reset --forget-delivered`: the stream forgets its target and cursor, what it delivered and
 * the sends it has not settled, and its watermark: the next run delivers every row again, to
 * whatever target it has. The caller holds the stream.
 */
export async function forgetDelivered(store: StateStore, ref: StreamRef): Promise<void> {
  await refuseBesideBackfill(store, ref, undefined, 'is to forget what it delivered');
  await store.transaction().execute(async (trx) => {
    await saveWatermark(trx, ref, undefined);
    // The next cursor may be another one: the built-in store's guard must not keep this one's versions.
    await lowerStoreGuard(trx, ref);
    await trx.deleteFrom('delivered').where('connector_id', '=', ref.connectorId).where('stream', '=', ref.stream).execute();
    // Claims go with their sends: an unsettled send to the old target says nothing about the new one.
    await trx.deleteFrom('delivery_sends').where('connector_id', '=', ref.connectorId).where('stream', '=', ref.stream).execute();
    await trx.updateTable('streams').set({ delivers_to: null, cursor_signature: null })
      .where('connector_id', '=', ref.connectorId).where('name', '=', ref.stream).execute();
  });
}

/**
 * `reset --target-moved`: the same Reach under a new address. The stream keeps what it
 * delivered; its next run records the target it has. The caller holds the stream.
 */
export async function forgetTarget(store: StateStore, ref: StreamRef): Promise<void> {
  await store.updateTable('streams').set({ delivers_to: null }).where('connector_id', '=', ref.connectorId).where('name', '=', ref.stream).execute();
}

/**
 * Drops the watermark and sets every version the stream remembered (delivered, claimed, and
 * the built-in store's guard for its records) below any version of the new cursor.
 */
async function forgetVersions(trx: Transaction<StoreSchema>, ref: StreamRef): Promise<void> {
  await saveWatermark(trx, ref, undefined);
  await lowerStoreGuard(trx, ref);
  await trx.updateTable('delivered').set({ version: '' }).where('connector_id', '=', ref.connectorId).where('stream', '=', ref.stream).execute();
  await trx.updateTable('delivery_claims').set({ version: '' }).where('connector_id', '=', ref.connectorId).where('stream', '=', ref.stream).execute();
}

/**
 * Sets the built-in store's guard of every record the stream wrote (its entry in the
 * record's `stream_versions`) below any version, so the stream's next versions, of whatever
 * cursor, are taken. Other streams' entries are left as they are.
 */
async function lowerStoreGuard(trx: Transaction<StoreSchema>, ref: StreamRef): Promise<void> {
  const writer = streamWriter(ref);
  await sql`
    update resources set stream_versions = stream_versions || jsonb_build_object(${writer}::text, '')
    where tenant_id = (select tenant_id from connectors where id = ${ref.connectorId})
      and external_id in (select external_id from delivered where connector_id = ${ref.connectorId} and stream = ${ref.stream})
      and stream_versions ? ${writer}::text`.execute(trx);
  // A record stored before 0014 that 0015 could not fill (no map: its guard is the last
  // write's `version`) is lowered as before 0014, in the stream's own schema only.
  await sql`
    update resources set version = ''
    where tenant_id = (select tenant_id from connectors where id = ${ref.connectorId})
      and lower(schema_name) = (select lower(schema_name) from streams where connector_id = ${ref.connectorId} and name = ${ref.stream})
      and external_id in (select external_id from delivered where connector_id = ${ref.connectorId} and stream = ${ref.stream})
      and stream_versions = '{}'::jsonb`.execute(trx);
}
