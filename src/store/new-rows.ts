/**
 * Rows a writer believes new (no delivery record of its stream names them: a first
 * backfill) go into a keyed table with a plain INSERT. An upsert's speculative insertion
 * (INSERT ... ON CONFLICT) costs PostgreSQL about half as much again per row, whether a row
 * conflicts or not (bench/run.ts, the store database's CPU per row: `resources` 7.5 against
 * 11 us, `delivered` 5 against 9).
 *
 * A row that exists after all (another stream's record, a concurrent writer's) fails the
 * INSERT with a unique violation: the savepoint undoes it, and every row goes through the
 * upsert as if the INSERT had never been tried. A concurrent writer's uncommitted row makes
 * the INSERT wait for its commit, as the upsert would.
 */
import { sql, type QueryResult, type RawBuilder, type Transaction } from 'kysely';
import type { StoreSchema } from './schema.ts';

/** The statement to run: with `upsert` false, a plain INSERT of the rows; true, the same rows merged on conflict. */
export type InsertStatement = (upsert: boolean) => RawBuilder<unknown>;

/** Runs `statement(false)` when `tryInsert`, falling back to `statement(true)` on a unique violation; `inserted` says which ran. */
export async function insertNewElseUpsert(
  trx: Transaction<StoreSchema>, statement: InsertStatement, tryInsert: boolean,
): Promise<{ result: QueryResult<unknown>; inserted: boolean }> {
  let inserted: QueryResult<unknown> | undefined;
  if (tryInsert && await asNewRows(trx, async () => { inserted = await statement(false).execute(trx); })) {
    return { result: inserted!, inserted: true };
  }
  return { result: await statement(true).execute(trx), inserted: false };
}

/**
 * Runs `write` (plain INSERTs of rows believed new) under a savepoint: true once it succeeded;
 * on a unique violation everything it wrote is undone and the result is false.
 */
export async function asNewRows(trx: Transaction<StoreSchema>, write: () => Promise<unknown>): Promise<boolean> {
  await sql`savepoint new_rows`.execute(trx);
  try {
    await write();
  } catch (error) {
    if ((error as { code?: unknown }).code !== UNIQUE_VIOLATION) throw error;
    await sql`rollback to savepoint new_rows`.execute(trx);
    await sql`release savepoint new_rows`.execute(trx);
    return false;
  }
  await sql`release savepoint new_rows`.execute(trx);
  return true;
}

const UNIQUE_VIOLATION = '23505';
