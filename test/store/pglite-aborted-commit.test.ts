/**
 * The embedded store's COMMIT of a transaction an error aborted rolls back, and Kysely must
 * hear it (AbortedTransactionError), as it does from the server's `ROLLBACK` tag. Found in
 * the review of the new-rows INSERT (store/new-rows.ts), the first code to catch a store
 * error inside a page's checkpoint transaction: on PGlite such a transaction, had its
 * savepoint handling ever left it aborted, reported a commit that never happened, and the
 * run would have moved its checkpoint past a page the store did not take.
 */
import { AbortedTransactionError, sql, type Kysely } from 'kysely';
import type { StoreSchema } from '../../src/store/schema.ts';
import { describe, expect, test } from '../fixture.ts';

const count = async (db: Kysely<StoreSchema>) =>
  (await sql<{ n: number }>`select count(*)::int as n from resources where tenant_id = 'ac'`.execute(db)).rows[0]!.n;

const insert = (db: Kysely<StoreSchema>, id: string) =>
  sql`insert into resources (tenant_id, schema_name, external_id, body, version) values ('ac', 'contacts', ${id}, '{}', '1')`.execute(db);

describe('a transaction an error aborted', () => {
  for (const where of ['server PostgreSQL', 'embedded PGlite'] as const) {
    test(`${where}: its commit is refused (AbortedTransactionError) and nothing of it stays`, async ({ lab }) => {
      const db = (where === 'server PostgreSQL' ? await lab.store() : await lab.embeddedStore()).db;
      const swallowed = db.transaction().execute(async (trx) => {
        await insert(trx, 'a');
        // An error caught and not undone by a savepoint: the transaction is aborted.
        await sql`select 1/0`.execute(trx).catch(() => undefined);
      });
      await expect(swallowed).rejects.toBeInstanceOf(AbortedTransactionError);
      expect(await count(db)).toBe(0);
      // The connection (PGlite's only one) goes on; commits are still reported as commits.
      await db.transaction().execute(async (trx) => {
        await insert(trx, 'b');
        await sql`savepoint s`.execute(trx);
        await sql`select 1/0`.execute(trx).catch(() => undefined);
        await sql`rollback to savepoint s`.execute(trx);
      });
      await db.transaction().execute((trx) => insert(trx, 'c'));
      expect(await count(db)).toBe(2);
    });
  }
});
