/**
 * Parked streams: a permanent error (auth refused, view or column missing, permission
 * denied, reject rate) stops a stream's scheduled runs until an operator unparks it, so the
 * partner is not hammered with a query that cannot succeed.
 */
import type { Kysely } from 'kysely';
import { PullerError } from '../errors.ts';
import { scrubSecrets } from '../secrets/secret-registry.ts';
import type { StreamRef } from '../store/delivery-state.ts';
import type { StoreSchema } from '../store/schema.ts';

type Db = Kysely<StoreSchema>;

/** Parks a stream with the error that stopped it. */
export async function parkStream(db: Db, ref: StreamRef, error: Error): Promise<void> {
  const code = error instanceof PullerError ? `${error.code}: ` : '';
  await db.updateTable('streams').set({ parked_reason: scrubSecrets(`${code}${error.message}`), parked_at: new Date() })
    .where('connector_id', '=', ref.connectorId).where('name', '=', ref.stream).execute();
}

/** The reason a stream is parked, or undefined. */
export async function parkedReason(db: Db, ref: StreamRef): Promise<string | undefined> {
  const row = await db.selectFrom('streams').select('parked_reason')
    .where('connector_id', '=', ref.connectorId).where('name', '=', ref.stream).executeTakeFirst();
  return row?.parked_reason ?? undefined;
}

/** Unparks one stream or every stream of a connector; returns the names unparked. */
export async function unparkStreams(db: Db, connectorId: string, stream?: string): Promise<string[]> {
  const exists = await db.selectFrom('streams').select('name').where('connector_id', '=', connectorId)
    .$if(stream !== undefined, (q) => q.where('name', '=', stream!)).execute();
  if (exists.length === 0) {
    throw new PullerError('RP_NOT_FOUND', stream ? `No stream "${stream}" in connector "${connectorId}"` : `No connector "${connectorId}" is registered`);
  }
  const rows = await db.updateTable('streams').set({ parked_reason: null, parked_at: null })
    .where('connector_id', '=', connectorId).where('parked_reason', 'is not', null)
    .$if(stream !== undefined, (q) => q.where('name', '=', stream!))
    .returning('name').execute();
  return rows.map((r) => r.name);
}
