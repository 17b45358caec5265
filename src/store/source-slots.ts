/**
 * A partner's `max_connections` across every replica: a scheduled run or a backfill chunk
 * takes one of its source's numbered slots, a hold (store/holds.ts) that a dead replica
 * gives back with its connection. A source whose slots are all held is at its cap.
 */
import type { Kysely } from 'kysely';
import { holdsOf, type Hold } from './holds.ts';
import type { StoreSchema } from './schema.ts';

/** Takes a free slot of the source, or undefined when all `cap` of them are held. */
export async function takeSourceSlot(db: Kysely<StoreSchema>, sourceId: string, cap: number): Promise<Hold | undefined> {
  const holds = holdsOf(db);
  for (let slot = 0; slot < cap; slot++) {
    const hold = await holds.tryTake(`source ${sourceId} slot ${slot}`);
    if (hold) return hold;
  }
  return undefined;
}

/** Waits for a free slot of the source (polling every `pollMs`); undefined when `signal` aborts first. */
export async function waitForSourceSlot(db: Kysely<StoreSchema>, sourceId: string, cap: number, signal: AbortSignal, pollMs = 500): Promise<Hold | undefined> {
  while (!signal.aborted) {
    const slot = await takeSourceSlot(db, sourceId, cap);
    if (slot) return slot;
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, pollMs);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve(undefined);
      }, { once: true });
    });
  }
  return undefined;
}
