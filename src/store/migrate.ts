/**
 * Numbered SQL migrations from `migrations/NNNN_name.sql`, recorded in
 * `reach_puller_migrations`. A session advisory lock serialises processes that start
 * together; a store migrated by a newer version of the code is refused.
 */
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import { PullerError } from '../errors.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));
// Any constant works; it only has to be the same for every reach-puller process.
export const MIGRATION_LOCK_ID = 7_214_835_001;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Reads the migrations shipped with this version of the code, in order. */
export async function knownMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (f) => ({
      version: Number(f.slice(0, 4)),
      name: path.basename(f, '.sql'),
      sql: await readFile(path.join(dir, f), 'utf8'),
    })),
  );
}

export interface MigrateResult {
  applied: string[];
  version: number;
}

/** Applies pending migrations under the lock; refuses a store newer than the code. */
export async function migrateStore<DB>(db: Kysely<DB>): Promise<MigrateResult> {
  const migrations = await knownMigrations();
  const latest = migrations.at(-1)?.version ?? 0;
  return db.connection().execute(async (conn) => {
    // Every command opens the store: one at exactly these migrations runs no DDL, and commands
    // pass beside each other (the lock shared). Not while a process migrates (the lock held):
    // its migration, not yet committed, may be of a newer version, which this one must refuse.
    if (await appliedExactlyUnlessMigrating(conn, migrations)) return { applied: [], version: latest };
    await sql`select pg_advisory_lock(${MIGRATION_LOCK_ID})`.execute(conn);
    try {
      await sql`create table if not exists reach_puller_migrations (
        version integer primary key, name text not null, applied_at timestamptz not null default now())`.execute(conn);
      const rows = await sql<{ version: number }>`select version from reach_puller_migrations order by version`.execute(conn);
      const done = new Set(rows.rows.map((r) => r.version));
      const current = Math.max(0, ...done);
      if (current > latest) {
        throw new PullerError(
          'RP_STORE_TOO_NEW',
          `The state store is at schema version ${current}, but this reach-puller knows versions up to ${latest}.`,
        );
      }
      const applied: string[] = [];
      for (const m of migrations.filter((m) => !done.has(m.version))) {
        await conn.transaction().execute(async (trx) => {
          await sql.raw(m.sql).execute(trx);
          await sql`insert into reach_puller_migrations (version, name) values (${m.version}, ${m.name})`.execute(trx);
        });
        applied.push(m.name);
      }
      return { applied, version: Math.max(current, latest) };
    } finally {
      await sql`select pg_advisory_unlock(${MIGRATION_LOCK_ID})`.execute(conn);
    }
  });
}

/** Whether no process migrates the store and it has applied these migrations and no other. */
async function appliedExactlyUnlessMigrating<DB>(conn: Kysely<DB>, migrations: Migration[]): Promise<boolean> {
  const { rows } = await sql<{ free: boolean }>`select pg_try_advisory_lock_shared(${MIGRATION_LOCK_ID}) as free`.execute(conn);
  if (!rows[0]?.free) return false;
  try {
    return await appliedExactly(conn, migrations);
  } finally {
    await sql`select pg_advisory_unlock_shared(${MIGRATION_LOCK_ID})`.execute(conn);
  }
}

/** Whether the store has applied these migrations and no other. */
async function appliedExactly<DB>(db: Kysely<DB>, migrations: Migration[]): Promise<boolean> {
  const table = await sql<{ found: boolean }>`select to_regclass('reach_puller_migrations') is not null as found`.execute(db);
  if (!table.rows[0]?.found) return false;
  const { rows } = await sql<{ version: number }>`select version from reach_puller_migrations order by version`.execute(db);
  return rows.length === migrations.length && migrations.every((m, i) => rows[i]!.version === m.version);
}
