/** Waiting, without sleeping on a guess, until sessions of a test's store wait on a lock. */
import { sql, type Kysely } from 'kysely';
import type { StoreSchema } from '../../src/store/schema.ts';

/** Resolves once at least `n` sessions of the store's database wait on a lock. */
export async function waitForLockWaits(db: Kysely<StoreSchema>, n = 1): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock'`.execute(db);
    if (rows[0]!.n >= n) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`never saw ${n} session(s) waiting on a lock`);
}
