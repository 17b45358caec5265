/** Migrations: concurrent start-up is safe, and a store from a newer version is refused. */
import { sql } from 'kysely';
import pg from 'pg';
import { openStore } from '../../src/store/open-store.ts';
import { knownMigrations, migrateStore, MIGRATION_LOCK_ID } from '../../src/store/migrate.ts';
import { dropDatabase, freshPgDatabase } from '../helpers/databases.ts';
import { waitFor } from '../scheduler/ops-fixtures.ts';
import { describe, expect, test, type Lab } from '../fixture.ts';

/** An empty database under a name of this run (the lab's stores are migrated already); dropped by the test once it passed. */
async function emptyDatabase(lab: Lab, what: string): Promise<{ name: string; url: string }> {
  const name = lab.databaseName(what);
  return { name, url: await freshPgDatabase(name) };
}

describe('state store migrations', () => {
  test('two `migrate` processes waiting on the lock together both succeed; one applies, one finds it applied', async ({ lab }) => {
    const { name, url } = await emptyDatabase(lab, 'race');
    // Hold the migration lock so both processes are certainly waiting on it at the same time.
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      await holder.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
      const runs = [lab.cli(['migrate'], { env: { DATABASE_URL: url } }), lab.cli(['migrate'], { env: { DATABASE_URL: url } })];
      await waitFor('both processes waiting on the migration lock', async () => {
        const { rows } = await holder.query<{ n: number }>(`select count(*)::int as n from pg_locks
          where locktype = 'advisory' and not granted and database = (select oid from pg_database where datname = current_database())`);
        return rows[0]!.n === 2;
      }, 60_000);
      await holder.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]);
      const [a, b] = await Promise.all(runs);
      expect([a.code, b.code], `${a.stderr}\n${b.stderr}`).toEqual([0, 0]);
      // Exactly one of them applied the migrations; the other found them applied.
      expect([a.stdout, b.stdout].filter((o) => o.includes('applied 0001_init'))).toHaveLength(1);
    } finally {
      await holder.end();
    }
    const latest = (await knownMigrations()).at(-1)!;
    const store = await openStore({ databaseUrl: url, migrate: false });
    try {
      const rows = await sql<{ version: number }>`select version from reach_puller_migrations order by version`.execute(store.db);
      expect(rows.rows.map((r) => r.version).at(-1)).toBe(latest.version);
      expect(new Set(rows.rows.map((r) => r.version)).size).toBe(rows.rows.length);
    } finally {
      await store.close();
    }
    await dropDatabase('postgres', name);
  }, 120_000);

  test('a store at exactly these migrations opens beside other commands opening it; one behind still waits for the lock', async ({ lab }) => {
    const { name, url } = await emptyDatabase(lab, 'current');
    await (await openStore({ databaseUrl: url })).close();
    // Another command is opening the current store (the lock shared): this one need not wait for it.
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      await holder.query('select pg_advisory_lock_shared($1)', [MIGRATION_LOCK_ID]);
      const opened = await Promise.race([openStore({ databaseUrl: url }), new Promise<'waited'>((resolve) => setTimeout(() => resolve('waited'), 10_000))]);
      expect(opened, 'a current store waited for another command opening it').not.toBe('waited');
      if (opened !== 'waited') await opened.close();
      await holder.query('select pg_advisory_unlock_shared($1)', [MIGRATION_LOCK_ID]);
      // A process migrating holds the lock: its migration may be of a newer version (migrate-beside-newer.test.ts).
      await holder.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
      // A store one migration behind goes through the lock, as before.
      await holder.query('delete from reach_puller_migrations where version = (select max(version) from reach_puller_migrations)');
      const behind = openStore({ databaseUrl: url });
      const early = await Promise.race([behind.then(() => 'opened'), new Promise<'waiting'>((resolve) => setTimeout(() => resolve('waiting'), 1_000))]);
      expect(early).toBe('waiting');
      await holder.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]);
      await (await behind).close();
      const { rows } = await holder.query<{ n: number }>('select count(*)::int as n from reach_puller_migrations');
      expect(rows[0]!.n).toBe((await knownMigrations()).length);
    } finally {
      await holder.end();
    }
    await dropDatabase('postgres', name);
  });

  test('refuses a store migrated by a newer version, saying what to do', async ({ lab }) => {
    const { name, url } = await emptyDatabase(lab, 'newer');
    const store = await openStore({ databaseUrl: url });
    try {
      await sql`insert into reach_puller_migrations (version, name) values (9999, '9999_future')`.execute(store.db);
      await expect(migrateStore(store.db)).rejects.toMatchObject({ code: 'RP_STORE_TOO_NEW' });
    } finally {
      await store.close();
    }
    const r = await lab.cli(['connectors', 'list'], { env: { DATABASE_URL: url } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('schema version 9999');
    expect(r.stderr).toContain('Upgrade reach-puller');
    await dropDatabase('postgres', name);
  });
});
