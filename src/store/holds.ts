/**
 * Holds: which process runs a stream, a backfill or a source slot, ended by that process's
 * death rather than by a timestamp anyone compares.
 *
 * - PostgreSQL store: a session advisory lock per hold, all on one dedicated connection of
 *   this process. A process that dies (kill -9, OOM, eviction) closes its connection and
 *   PostgreSQL releases its holds at once; a host that vanishes is noticed by TCP keepalives
 *   within about 11 s. When this process loses the connection, every hold reports `lost`.
 * - Embedded store: one process holds the whole store (embedded-store-lock.ts), so a map in
 *   memory is the truth: whatever this process does not hold, nobody holds.
 */
import { endPgClient, endsInTime } from './store-connections.ts';
import type pg from 'pg';

/** One hold; `lost` aborts when it ends without `release` (its session went away). */
export interface Hold {
  readonly key: string;
  readonly lost: AbortSignal;
  release(): Promise<void>;
}

export interface Holds {
  /** True when one process owns the store: a run this process does not hold is dead. */
  readonly exclusive: boolean;
  /** Takes the hold, or undefined when a live holder (this process or another) has it. */
  tryTake(key: string): Promise<Hold | undefined>;
  /** Whether some live process holds the key. */
  isHeld(key: string): Promise<boolean>;
  /** Releases every hold and the session. */
  close(): Promise<void>;
}

// Seed of the 64-bit hash of a hold's key; any constant works if every process uses it.
const KEY_SEED = 7_214_835;
// The lock session asks for nothing for this long at most (ping, take, release).
const SESSION_TIMEOUT_MS = 10_000;
const PING_MS = 5_000;

interface Entry {
  controller: AbortController;
  /** Set once taken; a pending entry keeps a concurrent tryTake of the same key out. */
  taken: boolean;
}

/** Holds kept in memory, for the embedded store (the whole store is this process's). */
export class ProcessHolds implements Holds {
  readonly exclusive = true;
  readonly #held = new Map<string, AbortController>();
  #closed = false;

  async tryTake(key: string): Promise<Hold | undefined> {
    if (this.#closed) throw new Error('the store is closed');
    if (this.#held.has(key)) return undefined;
    const controller = new AbortController();
    this.#held.set(key, controller);
    return {
      key,
      lost: controller.signal,
      release: async () => {
        if (this.#held.get(key) === controller) this.#held.delete(key);
      },
    };
  }

  async isHeld(key: string): Promise<boolean> {
    return this.#held.has(key);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const held = [...this.#held.values()];
    this.#held.clear();
    for (const controller of held) controller.abort(new Error('the hold ended: the store was closed'));
  }
}

/** Session advisory locks on one dedicated PostgreSQL connection of this process. */
export class SessionLockHolds implements Holds {
  readonly exclusive = false;
  readonly #connectionString: string;
  readonly #held = new Map<string, Entry>();
  #session?: Promise<pg.Client>;
  #ping?: NodeJS.Timeout;
  #closed = false;
  /** The session's statements, one after another (node-pg queues them, but deprecates relying on it). */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(connectionString: string) {
    this.#connectionString = connectionString;
  }

  async tryTake(key: string): Promise<Hold | undefined> {
    if (this.#closed) throw new Error('the store is closed');
    // Advisory locks are re-entrant within a session: this process's own holds are checked here.
    if (this.#held.has(key)) return undefined;
    const entry: Entry = { controller: new AbortController(), taken: false };
    this.#held.set(key, entry);
    try {
      const rows = await this.#query<{ ok: boolean }>('select pg_try_advisory_lock(hashtextextended($1, $2)) as ok', [key, KEY_SEED]);
      if (!rows[0]?.ok) {
        this.#held.delete(key);
        return undefined;
      }
      entry.taken = true;
      return { key, lost: entry.controller.signal, release: () => this.#release(key, entry) };
    } catch (error) {
      if (this.#held.get(key) === entry) this.#held.delete(key);
      throw error;
    }
  }

  async isHeld(key: string): Promise<boolean> {
    if (this.#held.get(key)?.taken) return true;
    // A bigint advisory lock shows in pg_locks as classid (high 32 bits) and objid (low 32 bits).
    const rows = await this.#query<{ held: boolean }>(`
      select exists (
        select 1 from pg_locks l, (select hashtextextended($1, $2) as k) h
        where l.locktype = 'advisory' and l.granted and l.objsubid = 1
          and l.database = (select oid from pg_database where datname = current_database())
          and l.classid::bigint = (h.k >> 32) & 4294967295 and l.objid::bigint = h.k & 4294967295
      ) as held`, [key, KEY_SEED]);
    return rows[0]?.held === true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#ping);
    const session = this.#session;
    this.#session = undefined;
    const held = [...this.#held.values()].filter((e) => e.taken);
    this.#held.clear();
    for (const entry of held) entry.controller.abort(new Error('the hold ended: the store was closed'));
    // Ending the session releases every lock it holds.
    if (session) await session.then((c) => endPgClient(c), () => undefined);
  }

  async #release(key: string, entry: Entry): Promise<void> {
    if (this.#held.get(key) !== entry) return;
    this.#held.delete(key);
    const session = this.#session;
    if (!session) return;
    // A failed unlock means a broken session, whose locks PostgreSQL has released anyway. Waited
    // for (another process may take the stream next), but no longer than a goodbye: a session
    // that stopped answering must not hold up the run that gives back.
    await endsInTime(this.#query('select pg_advisory_unlock(hashtextextended($1, $2))', [key, KEY_SEED], session));
  }

  /** Runs a statement on the session (`session`: that one, not a new one), after the ones before it. */
  #query<R extends pg.QueryResultRow>(text: string, values: unknown[], session?: Promise<pg.Client>): Promise<R[]> {
    const run = this.#queue.then(async () => (await (session ?? this.#open())).query<R>(text, values));
    this.#queue = run.catch(() => undefined);
    return run.then((r) => r.rows);
  }

  #open(): Promise<pg.Client> {
    this.#session ??= this.#connect();
    return this.#session;
  }

  async #connect(): Promise<pg.Client> {
    // Named apart from the store's pool (a parameter in the URL would win over the option).
    const url = new URL(this.#connectionString);
    const name = `${url.searchParams.get('application_name') ?? 'reach-puller'} holds`;
    url.searchParams.delete('application_name');
    // Loaded here: only a PostgreSQL store needs the driver (open-store.ts).
    const { default: pg } = await import('pg');
    const client = new pg.Client({
      connectionString: url.toString(),
      application_name: name,
      keepAlive: true,
      keepAliveInitialDelayMillis: 5_000,
      connectionTimeoutMillis: SESSION_TIMEOUT_MS,
      query_timeout: SESSION_TIMEOUT_MS,
    });
    const lose = () => this.#lose(client);
    client.on('error', lose);
    client.on('end', lose);
    try {
      await client.connect();
      // The server side notices a vanished client host within idle + interval * count seconds.
      await client.query('set tcp_keepalives_idle = 5; set tcp_keepalives_interval = 2; set tcp_keepalives_count = 3');
    } catch (error) {
      this.#session = undefined;
      await client.end().catch(() => undefined);
      throw error;
    }
    clearInterval(this.#ping);
    // A half-open connection answers nothing: the ping's timeout ends it, and with it the holds.
    this.#ping = setInterval(() => {
      this.#query('select 1', [], Promise.resolve(client)).catch(() => {
        lose();
        void endPgClient(client);
      });
    }, PING_MS);
    this.#ping.unref();
    return client;
  }

  /** The session ended: every hold taken on it is gone. */
  #lose(client: pg.Client): void {
    const session = this.#session;
    if (!session) return;
    void session.then((current) => {
      if (current !== client) return;
      this.#session = undefined;
      clearInterval(this.#ping);
      const held = [...this.#held.values()].filter((e) => e.taken);
      for (const [key, entry] of this.#held) if (entry.taken) this.#held.delete(key);
      for (const entry of held) entry.controller.abort(new Error('the hold was lost: the store connection that held it ended'));
    }, () => undefined);
  }
}

const registry = new WeakMap<object, Holds>();

/** Attaches a store's holds to its Kysely instance (done once, by openStore). */
export function registerHolds(db: object, holds: Holds): void {
  registry.set(db, holds);
}

/** The holds of the store behind `db`. */
export function holdsOf(db: object): Holds {
  const holds = registry.get(db);
  if (!holds) throw new Error('this store was not opened with openStore: it has no holds');
  return holds;
}
