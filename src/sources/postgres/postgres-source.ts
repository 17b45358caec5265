/**
 * PostgreSQL: sessions default to read-only and UTC at connect time, every read runs in
 * `REPEATABLE READ READ ONLY` with a local statement timeout, values come back as text
 * through the pool's own type parsers, and scans stream through a server-side cursor.
 */
import type { Knex } from 'knex';
import type pg from 'pg';
import { sourceIdentity } from '../../config/source-identity.ts';
import QueryStream from 'pg-query-stream';
import type { SourceRow } from '../../interfaces.ts';
import { chunked } from '../chunked.ts';
import type { ConnectionSettings, TlsSettings } from '../connection-settings.ts';
import type { SourceDialect } from '../source-dialect.ts';
import { TICKS_PER_DAY } from '../cursor-time.ts';
import { KEEPALIVE_DELAY_MS } from '../answer-deadline.ts';
import { GuardedKnexPgClient, type GuardedConnection } from './password-guard.ts';
import { postgresTypes } from './postgres-types.ts';

function tls(ssl: TlsSettings): pg.ClientConfig['ssl'] {
  if (ssl.mode === 'disable') return false;
  // Node's TLS checks the host name against the certificate when rejectUnauthorized is on.
  if (ssl.mode === 'verify-full') return { rejectUnauthorized: true, ca: ssl.ca };
  return { rejectUnauthorized: false };
}

export const postgresSource: SourceDialect = {
  dialect: 'postgres',
  fractionDigits: 6,
  cursorKinds: {
    'timestamp with time zone': 'instant',
    'timestamp without time zone': 'local',
    date: 'local',
    smallint: 'integer',
    integer: 'integer',
    bigint: 'integer',
  },
  binaryTypes: new Set(['bytea']),
  fixedGrains: { date: TICKS_PER_DAY },

  knexConfig(settings: ConnectionSettings): Knex.Config {
    const connection: GuardedConnection = {
      host: settings.host,
      port: settings.port,
      database: settings.database,
      user: settings.user,
      password: settings.password,
      ssl: tls(settings.ssl),
      application_name: 'reach-puller',
      // Even a stray statement outside a read session cannot write, and times print in UTC, as
      // ISO text whatever DateStyle the partner's database sets (German prints 01.12.2026).
      options: '-c default_transaction_read_only=on -c TimeZone=UTC -c DateStyle=ISO',
      types: postgresTypes,
      connectionTimeoutMillis: settings.connectTimeoutSeconds * 1000,
      // Probes find a peer that vanished (a failover, a dead NAT entry) while a session idles.
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
      passwordAuth: settings.passwordAuth,
      sourceName: sourceIdentity(settings),
    };
    return {
      client: GuardedKnexPgClient,
      connection: connection as Knex.PgConnectionConfig,
      pool: { min: 0, max: settings.maxConnections, idleTimeoutMillis: 10_000 },
    };
  },

  beginStatements(settings: ConnectionSettings) {
    return [
      { sql: 'BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY', bindings: [] },
      { sql: "select set_config('statement_timeout', ?, true)", bindings: [String(settings.statementTimeoutSeconds * 1000)] },
    ];
  },
  endStatement: 'ROLLBACK',
  clockSql: 'select now() as now',

  describeSql(schema: string | undefined, view: string) {
    return {
      sql:
        'select column_name as name, data_type, datetime_precision as precision from information_schema.columns ' +
        'where table_schema = coalesce(?, current_schema()) and table_name = ? order by ordinal_position',
      bindings: [schema ?? null, view],
    };
  },

  selectCursor: (_knex, expression) => expression,
  // Left untyped, the parameter takes the cursor column's type, so the index still applies.
  bindCursor: (knex, value) => knex.raw('?', [value]),
  closeConnection: (connection) => (connection as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy(),
  rowsOf: (result) => (result as { rows: SourceRow[] }).rows,

  streamRows(connection: unknown, sql: string, bindings: readonly unknown[], chunkSize: number) {
    const stream = (connection as pg.Client).query(new QueryStream(sql, [...bindings], { batchSize: chunkSize, highWaterMark: chunkSize }));
    return chunked<SourceRow>(stream, chunkSize);
  },

  async inspectPrivileges(query) {
    const rows = await query(`
      select 'SUPERUSER' as p from pg_roles where rolname = current_user and rolsuper
      union all select 'CREATEDB' from pg_roles where rolname = current_user and rolcreatedb
      union all select 'CREATEROLE' from pg_roles where rolname = current_user and rolcreaterole
      union all select 'CREATE on database ' || current_database() where has_database_privilege(current_database(), 'CREATE')
      union all select 'CREATE on schema ' || nspname from pg_namespace
        where nspname not like 'pg\\_%' and nspname <> 'information_schema' and has_schema_privilege(oid, 'CREATE')
      union all select p.priv || ' on ' || n.nspname || '.' || c.relname
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        cross join unnest(array['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER', 'REFERENCES']) as p(priv)
        where c.relkind in ('r', 'v', 'm', 'p', 'f') and n.nspname not like 'pg\\_%' and n.nspname <> 'information_schema'
          and not (select rolsuper from pg_roles where rolname = current_user)
          and has_table_privilege(c.oid, p.priv)`);
    return rows.map((row) => String(row.p));
  },
};
