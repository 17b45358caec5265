/** Migrations: concurrent start-up is safe, and a store from a newer version is refused. */
import { describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { openStore } from '../../src/store/open-store.ts';
import { knownMigrations, migrateStore } from '../../src/store/migrate.ts';
import { runCli } from '../helpers/cli.ts';
import { freshPgDatabase } from '../helpers/databases.ts';

describe('state store migrations', () => {
  it('two `migrate` processes started at the same moment both succeed and leave one schema', async () => {
    const url = await freshPgDatabase('rp_migrate_race');
    const [a, b] = await Promise.all([runCli(['migrate'], { env: { DATABASE_URL: url } }), runCli(['migrate'], { env: { DATABASE_URL: url } })]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const latest = (await knownMigrations()).at(-1)!;
    // Exactly one of them applied the migrations; the other found them applied.
    expect([a.stdout, b.stdout].filter((o) => o.includes('applied 0001_init'))).toHaveLength(1);
    const store = await openStore({ databaseUrl: url, migrate: false });
    try {
      const rows = await sql<{ version: number }>`select version from reach_puller_migrations order by version`.execute(store.db);
      expect(rows.rows.map((r) => r.version).at(-1)).toBe(latest.version);
      expect(new Set(rows.rows.map((r) => r.version)).size).toBe(rows.rows.length);
    } finally {
      await store.close();
    }
  });

  it('refuses a store migrated by a newer version, saying what to do', async () => {
    const url = await freshPgDatabase('rp_migrate_newer');
    const store = await openStore({ databaseUrl: url });
    try {
      await sql`insert into reach_puller_migrations (version, name) values (9999, '9999_future')`.execute(store.db);
      await expect(migrateStore(store.db)).rejects.toMatchObject({ code: 'RP_STORE_TOO_NEW' });
    } finally {
      await store.close();
    }
    const r = await runCli(['connectors', 'list'], { env: { DATABASE_URL: url } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('schema version 9999');
    expect(r.stderr).toContain('Upgrade reach-puller');
  });
});
