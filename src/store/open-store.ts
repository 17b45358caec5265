/**
 * Opens the state store: PostgreSQL when DATABASE_URL is set, otherwise an embedded PGlite
 * database under $REACH_PULLER_HOME (default ./.reach-puller) so nothing needs a server.
 */
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { Kysely, PostgresDialect } from 'kysely';
import type pg from 'pg';
import { positiveEnv } from '../config/positive-env.ts';
import { PullerError } from '../errors.ts';
import type { StoreSchema } from './schema.ts';
import { pglitePool } from './pglite-pool.ts';
import { migrateStore } from './migrate.ts';
import { lockEmbeddedStore } from './embedded-store-lock.ts';
import { boundStatements, dropPgClient, endsInTime } from './store-connections.ts';
import { ProcessHolds, registerHolds, SessionLockHolds, type Holds } from './holds.ts';

export interface Store {
  db: Kysely<StoreSchema>;
  kind: 'postgres' | 'embedded';
  /** Where the store lives, without credentials. */
  location: string;
  /** Who runs what: advisory locks on PostgreSQL, this process's memory on the embedded store. */
  holds: Holds;
  close(): Promise<void>;
}

export interface StoreOptions {
  databaseUrl?: string;
  home?: string;
  /** Apply pending migrations (default true; `migrate` itself passes true too). */
  migrate?: boolean;
  /** What this process is (`pull`, `serve`...), named to another process the embedded store refuses. */
  command?: string;
}

// PostgreSQL's default 128 MB of shared buffers are touched at every PGlite boot, in this
// process's memory beside the puller's: 16 MB start faster and keep every command about 120 MB
// smaller, and a backfill into the embedded store went no slower (docs/benchmarks.md, figures 9, 11).
const EMBEDDED_SHARED_BUFFERS = '16MB';

// node-pg's defaults, made explicit for both drivers: int8 and numeric stay exact strings.
const INT8 = 20;
const NUMERIC = 1700;

/** Resolves options from the environment. */
export function storeOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): StoreOptions {
  return { databaseUrl: env.DATABASE_URL || undefined, home: env.REACH_PULLER_HOME || undefined };
}

/** Opens (and by default migrates) the state store. */
export async function openStore(options: StoreOptions = storeOptionsFromEnv()): Promise<Store> {
  const store = options.databaseUrl ? await openPostgres(options.databaseUrl) : await openEmbedded(options.home, options.command);
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

async function openPostgres(databaseUrl: string): Promise<Store> {
  // Loaded lazily, as PGlite below: a command on the embedded store never pays for node-postgres.
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: 10,
    // A store that stops answering (a black-holed network, a hung host) fails the waits on it
    // instead of hanging them (statements: store-connections.ts): a run fails, its stream stays.
    connectionTimeoutMillis: positiveEnv('REACH_PULLER_STORE_CONNECT_TIMEOUT_MS', 15_000),
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  });
  // A client losing its server must not crash the process: node-pg emits 'error' on the client
  // (checked out, in a transaction) or the pool (idle); the query in flight, if any, rejects with it.
  pool.on('error', () => {});
  // Every client, so a close can drop those a silent store never lets end (end-pg-client.ts).
  const clients = new Set<pg.PoolClient>();
  pool.on('connect', (client) => {
    boundStatements(client);
    clients.add(client);
    client.on('error', () => {});
    client.on('end', () => clients.delete(client));
  });
  const db = new Kysely<StoreSchema>({ dialect: new PostgresDialect({ pool }) });
  const holds = new SessionLockHolds(databaseUrl);
  registerHolds(db, holds);
  const u = new URL(databaseUrl);
  return {
    db,
    kind: 'postgres',
    location: `postgres://${u.host}${u.pathname}`,
    holds,
    close: async () => {
      await holds.close();
      if (!(await endsInTime(db.destroy()))) for (const client of clients) dropPgClient(client);
    },
  };
}

async function openEmbedded(home = './.reach-puller', command = process.argv[2] ?? 'reach-puller'): Promise<Store> {
  const dataDir = path.resolve(home, 'store');
  await mkdir(dataDir, { recursive: true });
  // Before PGlite opens the directory: a second process on it would corrupt it.
  const unlock = await lockEmbeddedStore(dataDir, command);
  // Loaded lazily: PGlite's WASM is only paid for when the embedded store is used.
  const { PGlite } = await import('@electric-sql/pglite');
  let pglite;
  try {
    pglite = await PGlite.create(dataDir, {
      startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${EMBEDDED_SHARED_BUFFERS}`],
      parsers: { [INT8]: (v: string) => v, [NUMERIC]: (v: string) => v },
    });
  } catch (error) {
    await unlock();
    throw new PullerError('RP_STORE_UNREACHABLE', `Cannot open the embedded store at ${dataDir}`, { cause: error });
  }
  const db = new Kysely<StoreSchema>({ dialect: new PostgresDialect({ pool: pglitePool(pglite) }) });
  const holds: Holds = new ProcessHolds();
  registerHolds(db, holds);
  return {
    db,
    kind: 'embedded',
    location: dataDir,
    holds,
    close: async () => {
      await holds.close();
      await db.destroy();
      await unlock();
    },
  };
}
