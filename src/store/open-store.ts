/**
 * Opens the state store: PostgreSQL when DATABASE_URL is set, otherwise an embedded PGlite
 * database under $REACH_PULLER_HOME (default ./.reach-puller) so nothing needs a server.
 */
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { PullerError } from '../errors.ts';
import type { StoreSchema } from './schema.ts';
import { pglitePool } from './pglite-pool.ts';
import { migrateStore } from './migrate.ts';

export interface Store {
  db: Kysely<StoreSchema>;
  kind: 'postgres' | 'embedded';
  /** Where the store lives, without credentials. */
  location: string;
  close(): Promise<void>;
}

export interface StoreOptions {
  databaseUrl?: string;
  home?: string;
  /** Apply pending migrations (default true; `migrate` itself passes true too). */
  migrate?: boolean;
}

// node-pg's defaults, made explicit for both drivers: int8 and numeric stay exact strings.
const INT8 = 20;
const NUMERIC = 1700;

/** Resolves options from the environment. */
export function storeOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): StoreOptions {
  return { databaseUrl: env.DATABASE_URL || undefined, home: env.REACH_PULLER_HOME || undefined };
}

/** Opens (and by default migrates) the state store. */
export async function openStore(options: StoreOptions = storeOptionsFromEnv()): Promise<Store> {
  const store = options.databaseUrl ? openPostgres(options.databaseUrl) : await openEmbedded(options.home);
  if (options.migrate !== false) {
    try {
      await migrateStore(store.db);
    } catch (error) {
      await store.close();
      throw error;
    }
  }
  return store;
}

function openPostgres(databaseUrl: string): Store {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
  // An idle client losing its server must not crash the process; the next query reports it.
  pool.on('error', () => {});
  const db = new Kysely<StoreSchema>({ dialect: new PostgresDialect({ pool }) });
  const u = new URL(databaseUrl);
  return {
    db,
    kind: 'postgres',
    location: `postgres://${u.host}${u.pathname}`,
    close: () => db.destroy(),
  };
}

async function openEmbedded(home = './.reach-puller'): Promise<Store> {
  const dataDir = path.resolve(home, 'store');
  await mkdir(dataDir, { recursive: true });
  // Loaded lazily: PGlite's WASM is only paid for when the embedded store is used.
  const { PGlite } = await import('@electric-sql/pglite');
  let pglite;
  try {
    pglite = await PGlite.create(dataDir, {
      parsers: { [INT8]: (v: string) => v, [NUMERIC]: (v: string) => v },
    });
  } catch (error) {
    throw new PullerError('RP_STORE_UNREACHABLE', `Cannot open the embedded store at ${dataDir}`, { cause: error });
  }
  const db = new Kysely<StoreSchema>({ dialect: new PostgresDialect({ pool: pglitePool(pglite) }) });
  return { db, kind: 'embedded', location: dataDir, close: () => db.destroy() };
}
