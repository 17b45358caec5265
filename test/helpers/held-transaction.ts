/** A store transaction stopped between two steps, so a test can place another transaction in between. */
import type { Kysely, Transaction } from 'kysely';
import type { StoreSchema } from '../../src/store/schema.ts';

type Step = (trx: Transaction<StoreSchema>) => Promise<unknown>;

/** Runs `before`, then holds the transaction open (`ready` resolves) until `release`, then runs `after` and commits (`done`). */
export function heldTransaction(db: Kysely<StoreSchema>, before: Step, after: Step = async () => undefined) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => { release = resolve; });
  let entered!: () => void;
  const ready = new Promise<void>((resolve) => { entered = resolve; });
  const done = db.transaction().execute(async (trx) => {
    await before(trx);
    entered();
    await released;
    await after(trx);
  });
  return { ready, done, release };
}
