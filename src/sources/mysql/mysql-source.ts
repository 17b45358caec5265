/**
 * MySQL / MariaDB: each pooled session is made read-only, UTC and time-limited when it is
 * created; every read runs in `START TRANSACTION READ ONLY, WITH CONSISTENT SNAPSHOT`. Its
 * login answers only the password methods the connector allows (password-guard.ts).
 * Times and big numbers come back as text; scans stream one query with backpressure.
 */
import type { Knex } from 'knex';
import type { Connection, SslOptions } from 'mysql2';
import type { SourceRow } from '../../interfaces.ts';
import { chunked } from '../chunked.ts';
import type { ConnectionSettings, TlsSettings } from '../connection-settings.ts';
import type { SourceDialect } from '../source-dialect.ts';
import { TICKS_PER_DAY } from '../cursor-time.ts';
import { KEEPALIVE_DELAY_MS } from '../answer-deadline.ts';
import { mysqlTypeCast } from './mysql-types.ts';
import { guardedAuthPlugins } from './password-guard.ts';
import { sourceIdentity } from '../../config/source-identity.ts';

/** Privileges that only read; anything else in SHOW GRANTS is reported. */
const READ_PRIVILEGES = new Set(['SELECT', 'SHOW VIEW', 'USAGE']);
const GRANT = /^GRANT (.+?) ON (.+?) TO /;
const ROLE_GRANT = /^GRANT (\S+) TO /;

function tls(ssl: TlsSettings): SslOptions | undefined {
  if (ssl.mode === 'disable') return undefined;
  // mysql2 checks the certificate's host name only when asked (verifyIdentity); verify-full must.
  if (ssl.mode === 'verify-full') return { rejectUnauthorized: true, ca: ssl.ca, verifyIdentity: true };
  return { rejectUnauthorized: false };
}

function run(connection: Connection, sql: string, values: unknown[] = []): Promise<SourceRow[]> {
  return new Promise((resolve, reject) => {
    connection.query(sql, values, (error, rows) => (error ? reject(error) : resolve(rows as SourceRow[])));
  });
}

/** Session settings on every new pooled connection, before any read. */
async function prepareSession(connection: Connection, statementTimeoutSeconds: number): Promise<void> {
  await run(connection, "SET time_zone = '+00:00'");
  await run(connection, 'SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
  const [row] = await run(connection, 'SELECT @@version AS v');
  // MariaDB limits in seconds, MySQL in milliseconds (and only for SELECT, which is all we run).
  if (String(row?.v).includes('MariaDB')) await run(connection, 'SET SESSION max_statement_time = ?', [statementTimeoutSeconds]);
  else await run(connection, 'SET SESSION max_execution_time = ?', [statementTimeoutSeconds * 1000]);
}

/** mysql2 (and MariaDB) text for a canonical value: no `T`, no `Z`; TIMESTAMP reads in the UTC session. */
function datetimeText(value: string): string {
  return value.replace('T', ' ').replace(/Z$/, '');
}

export const mysqlSource: SourceDialect = {
  dialect: 'mysql',
  fractionDigits: 6,
  cursorKinds: {
    timestamp: 'instant',
    datetime: 'local',
    date: 'local',
    tinyint: 'integer',
    smallint: 'integer',
    mediumint: 'integer',
    int: 'integer',
    bigint: 'integer',
  },
  binaryTypes: new Set(['binary', 'varbinary', 'tinyblob', 'blob', 'mediumblob', 'longblob']),
  fixedGrains: { date: TICKS_PER_DAY },

  knexConfig(settings: ConnectionSettings): Knex.Config {
    return {
      client: 'mysql2',
      connection: {
        host: settings.host,
        port: settings.port,
        database: settings.database,
        user: settings.user,
        password: settings.password,
        ssl: tls(settings.ssl),
        charset: 'utf8mb4',
        // 'Z' (not 'local', not 'UTC' which mysql2 ignores): values never move with the process zone.
        timezone: 'Z',
        dateStrings: true,
        supportBigNumbers: true,
        bigNumberStrings: true,
        decimalNumbers: false,
        typeCast: mysqlTypeCast,
        connectTimeout: settings.connectTimeoutSeconds * 1000,
        enableKeepAlive: true,
        keepAliveInitialDelay: KEEPALIVE_DELAY_MS,
        // Only the password methods the connector allows (challenge-response by default).
        authPlugins: guardedAuthPlugins(settings.passwordAuth, sourceIdentity(settings)),
      } as Knex.MySql2ConnectionConfig,
      pool: {
        min: 0,
        max: settings.maxConnections,
        idleTimeoutMillis: 10_000,
        afterCreate(connection: Connection, done: (error: Error | null, connection: Connection) => void) {
          prepareSession(connection, settings.statementTimeoutSeconds).then(
            () => done(null, connection),
            (error: Error) => done(error, connection),
          );
        },
      },
    };
  },

  beginStatements: () => [{ sql: 'START TRANSACTION READ ONLY, WITH CONSISTENT SNAPSHOT', bindings: [] }],
  endStatement: 'ROLLBACK',
  clockSql: 'SELECT UTC_TIMESTAMP(6) AS now',

  describeSql(schema: string | undefined, view: string) {
    return {
      sql:
        'SELECT column_name AS name, data_type AS data_type, datetime_precision AS `precision` FROM information_schema.columns ' +
        'WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ? ORDER BY ordinal_position',
      bindings: [schema ?? null, view],
    };
  },

  selectCursor: (_knex, expression) => expression,
  // Cast so the comparison is temporal or exact-decimal, never a string or double comparison.
  bindCursor: (knex, value, spec) =>
    spec.cursorKind === 'integer'
      ? knex.raw('CAST(? AS DECIMAL(65,0))', [value])
      : knex.raw('CAST(? AS DATETIME(6))', [datetimeText(value)]),
  closeConnection: (connection) => (connection as Connection).destroy(),
  rowsOf: (result) => (result as [SourceRow[]])[0],

  async *streamRows(connection: unknown, sql: string, bindings: readonly unknown[], chunkSize: number) {
    const conn = connection as Connection;
    const stream = conn.query(sql, [...bindings]).stream({ highWaterMark: chunkSize });
    let finished = false;
    try {
      yield* chunked<SourceRow>(stream, chunkSize);
      finished = true;
    } finally {
      // Left early, mysql2 keeps the connection paused mid-result; only closing it frees the
      // server. The pool discards it (validateConnection) and the transaction dies with it.
      if (!finished) conn.destroy();
    }
  },

  async inspectPrivileges(query) {
    const found: string[] = [];
    for (const row of await query('SHOW GRANTS')) {
      const grant = String(Object.values(row)[0]);
      const match = GRANT.exec(grant);
      if (!match) {
        const role = ROLE_GRANT.exec(grant);
        if (role) found.push(`role ${role[1]} (check its grants)`);
        continue;
      }
      const [, privileges, object] = match as unknown as [string, string, string];
      // Column lists (`SELECT (a, b)`) hold commas of their own: drop them before splitting.
      for (const privilege of privileges.replace(/\([^)]*\)/g, '').split(',')) {
        const name = privilege.trim().toUpperCase();
        if (!READ_PRIVILEGES.has(name)) found.push(`${name} on ${object}`);
      }
      if (grant.includes(' WITH GRANT OPTION')) found.push(`GRANT OPTION on ${object}`);
    }
    return found;
  },
};
