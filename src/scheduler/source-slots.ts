/**
 * A partner's `max_connections` across every replica: a run takes one of its source's
 * numbered slots, a hold (store/holds.ts) that a dead replica gives back with its
 * connection. A source whose slots are all held is at its cap.
 */
import type { Kysely } from 'kysely';
import { holdsOf, type Hold } from '../store/holds.ts';
import type { StoreSchema } from '../store/schema.ts';

/** Takes a free slot of the source, or undefined when all `cap` of them are held. */
export async function takeSourceSlot(db: Kysely<StoreSchema>, sourceId: string, cap: number): Promise<Hold | undefined> {
  const holds = holdsOf(db);
  for (let slot = 0; slot < cap; slot++) {
    const hold = await holds.tryTake(`source ${sourceId} slot ${slot}`);
    if (hold) return hold;
  }
  return undefined;
}
