/**
 * Review 7: a store at exactly this version's migrations now opens without the migration
 * lock. A newer reach-puller migrating the store holds that lock across its migration's
 * transaction, whose row is not visible until it commits (a long one: a data migration). An
 * older process that opens the store meanwhile used to wait for the lock and then be refused
 * (RP_STORE_TOO_NEW); now it sees "exactly my migrations" and goes on against the schema
 * being changed under it.
 */
import pg from 'pg';
import { openStore } from '../../src/store/open-store.ts';
import { knownMigrations, MIGRATION_LOCK_ID } from '../../src/store/migrate.ts';
import { dropDatabase, freshPgDatabase } from '../helpers/databases.ts';
import { describe, expect, test } from '../fixture.ts';

describe('a store opened while a newer version migrates it', () => {
  test('an older process opening during a newer one\'s migration is refused once it commits', async ({ lab }) => {
    const name = lab.databaseName('newer_migrating');
    const url = await freshPgDatabase(name);
    await (await openStore({ databaseUrl: url })).close();
    const latest = (await knownMigrations()).at(-1)!.version;
    // The newer process: the lock, then its migration's transaction (DDL and its row), not yet committed.
    const newer = new pg.Client({ connectionString: url });
    await newer.connect();
    try {
      await newer.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
      await newer.query('begin');
      await newer.query('alter table runs add column future_column text');
      await newer.query('insert into reach_puller_migrations (version, name) values ($1, $2)', [latest + 1, 'future']);
      // This (older) version opens the store meanwhile.
      const opening = openStore({ databaseUrl: url }).then(
        async (store) => { await store.close(); return 'opened'; },
        (error: { code?: string }) => error.code ?? String(error),
      );
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await newer.query('commit');
      await newer.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]);
      expect(await opening, 'an older process opened a store a newer version was migrating').toBe('RP_STORE_TOO_NEW');
    } finally {
      await newer.end();
    }
    await dropDatabase('postgres', name);
  });
});
