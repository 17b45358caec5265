/**
 * One knex pool per source, shared by every connector that reads it, so a partner's
 * `max_connections` caps the puller as a whole. Reference-counted: closing the last
 * connector destroys the pool.
 *
 * A pool is shared only by connectors whose sessions are equally secure: its key holds, beside
 * the source, the TLS mode, the CA, the credential (hashed), the password methods answered
 * and the network policy, so a connector that demands TLS never reads over a plaintext
 * connection a `disable` neighbour opened, and one credential's session never serves another.
 */
import { createHash, randomBytes } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import type { Dialect } from '../interfaces.ts';
import type { ConnectionSettings } from './connection-settings.ts';
import { sourceIdentity } from '../config/source-identity.ts';
import type { Source } from './source.ts';
import type { SourceDialect } from './source-dialect.ts';
import { closeIdle, SqlSource } from './sql-source.ts';
import { logger } from '../log.ts';
import { scrubSecrets } from '../secrets/secret-registry.ts';
import { mssqlSource } from './mssql/mssql-source.ts';
import { mysqlSource } from './mysql/mysql-source.ts';
import { postgresSource } from './postgres/postgres-source.ts';

const DIALECTS: Record<Dialect, SourceDialect> = {
  postgres: postgresSource,
  mysql: mysqlSource,
  mssql: mssqlSource,
};

interface SharedPool {
  knex: Knex;
  users: number;
}

const pools = new Map<string, SharedPool>();

/**
 * Opens a Source on the shared pool for these settings. The first connector to open a
 * source fixes its pool settings (max connections, timeouts) until the last one closes it.
 */
export function openSource(settings: ConnectionSettings): Source {
  const impl = DIALECTS[settings.dialect];
  const key = poolKey(settings);
  let shared = pools.get(key);
  if (!shared) {
    shared = { knex: knexFactory({ ...impl.knexConfig(settings), log: knexLog(sourceIdentity(settings)) }), users: 0 };
    pools.set(key, shared);
  }
  shared.users++;
  const pool = shared;
  return new SqlSource(pool.knex, impl, settings, async () => {
    pool.users--;
    if (pool.users > 0) {
      // The run that closes gives its source slot back next (store/source-slots.ts): the
      // connection it read on must not idle on here for the others, or a run of another process
      // in that slot would make one connection more than max_connections.
      await closeIdle(pool.knex);
      return;
    }
    pools.delete(key);
    await pool.knex.destroy();
  });
}

// Salts the credential's hash in pool keys: a key in memory says nothing of the password.
const KEY_SALT = randomBytes(16);

/** The source, and a hash of everything that makes its sessions secure. */
function poolKey(settings: ConnectionSettings): string {
  const security = JSON.stringify([settings.ssl.mode, settings.ssl.ca ?? null, settings.user, settings.password, [...settings.passwordAuth].sort(), settings.networkPolicy.allowText]);
  return `${sourceIdentity(settings)}#${createHash('sha256').update(KEY_SALT).update(security).digest('hex').slice(0, 32)}`;
}

/**
 * knex prints pool trouble ("Acquire connection error") with console.log; route it to the
 * process logger instead, at debug: the run that hit the error reports it with its code.
 */
function knexLog(source: string): Knex.Config['log'] {
  const log = logger().child({ component: 'knex', source });
  const text = (m: unknown) => scrubSecrets(m instanceof Error ? m.message : String(m));
  return {
    debug: (m: unknown) => log.debug(text(m)),
    warn: (m: unknown) => log.debug(text(m)),
    error: (m: unknown) => log.debug(text(m)),
    deprecate: (method: string, alternative: string) => log.debug(`${method} is deprecated; use ${alternative}`),
  };
}

/** How many pools are open, for tests that check nothing is left open. */
export function openPoolCount(): number {
  return pools.size;
}
