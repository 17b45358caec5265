/** Waiting for a condition of the databases (a session waiting on a lock, a query seen), not sleeping on a guess. */
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

/** Resolves once `condition` holds, looking every 20 ms. */
export async function until(condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 20));
}
