/**
 * SQL Server: connections ask for read-only intent (routed to a readable secondary where
 * there is one), each read runs in a READ COMMITTED transaction with a lock timeout, and
 * cursors are selected as text so no value passes through a JS Date.
 * SQL Server has no read-only session mode: a read-only credential is the real guard.
 * tedious streams without backpressure through knex, so scans read keyset pages.
 */
import type { Knex } from 'knex';
import type { SourceRow } from '../../interfaces.ts';
import type { ConnectionSettings } from '../connection-settings.ts';
import type { ReadSpec } from '../source.ts';
import { connectAllowed } from '../../security/network-policy.ts';
import type { SourceDialect } from '../source-dialect.ts';
import { TICKS_PER_DAY, TICKS_PER_MS, TICKS_PER_SECOND } from '../cursor-time.ts';

/** rowversion reports as `timestamp` in INFORMATION_SCHEMA. */
const ROWVERSION_TYPES = new Set(['timestamp', 'rowversion']);

function isRowversion(spec: ReadSpec): boolean {
  return ROWVERSION_TYPES.has(spec.cursorType?.toLowerCase() ?? '');
}

/**
 * The canonical local text bound as the cursor column's own type: datetime keeps 1/300 s
 * ticks, so the value read back (`.003`) must round to the same tick, not compare as
 * datetime2 `.0030000` against `.00333`.
 */
function localType(spec: ReadSpec): string | undefined {
  const type = spec.cursorType?.toLowerCase();
  return type === 'datetime' || type === 'smalldatetime' ? type : undefined;
}

/**
 * One row per role held (a fixed server role, or a fixed database role that can write or
 * grant) and per effective permission on the database, whether granted directly, through a
 * role or implied by CONTROL: `{ kind, name }`. writePrivilegesOf decides which of them write.
 */
const PRIVILEGES_SQL = `
  SELECT 'server role' AS kind, r.name AS name
    FROM (VALUES ('sysadmin'), ('serveradmin'), ('securityadmin'), ('setupadmin'), ('processadmin'), ('diskadmin'), ('dbcreator'), ('bulkadmin')) AS r(name)
    WHERE IS_SRVROLEMEMBER(r.name) = 1
  UNION ALL SELECT 'database role', r.name
    FROM (VALUES ('db_owner'), ('db_datawriter'), ('db_ddladmin'), ('db_securityadmin'), ('db_accessadmin'), ('db_backupoperator')) AS r(name)
    WHERE IS_MEMBER(r.name) = 1
  UNION ALL SELECT 'database', permission_name FROM fn_my_permissions(NULL, 'DATABASE')`;

/** Database permissions that only read or connect; every VIEW ... permission reads too. */
const READ_PERMISSIONS = new Set(['CONNECT', 'SELECT', 'SHOWPLAN']);

/** The privileges beyond reading among the inspection's rows: every role it found, and every other database permission. */
export function writePrivilegesOf(rows: readonly SourceRow[]): string[] {
  return rows.flatMap(({ kind, name }) => {
    const permission = String(name);
    if (kind !== 'database') return [`${String(kind)} ${permission}`];
    return READ_PERMISSIONS.has(permission) || permission.startsWith('VIEW ') ? [] : [`${permission} on database`];
  });
}

export const mssqlSource: SourceDialect = {
  dialect: 'mssql',
  fractionDigits: 7,
  cursorKinds: {
    datetimeoffset: 'instant',
    datetime2: 'local',
    datetime: 'local', // rounds to 1/300 s; compared in its own type (see localType)
    smalldatetime: 'local',
    date: 'local',
    tinyint: 'integer',
    smallint: 'integer',
    int: 'integer',
    bigint: 'integer',
    timestamp: 'integer',
    rowversion: 'integer',
  },
  // datetime steps by 1/300 s: 10 ms covers it. smalldatetime keeps minutes.
  binaryTypes: new Set(['binary', 'varbinary']),
  fixedGrains: { date: TICKS_PER_DAY, smalldatetime: 60n * TICKS_PER_SECOND, datetime: 10n * TICKS_PER_MS },

  knexConfig(settings: ConnectionSettings): Knex.Config {
    const timeoutMs = settings.statementTimeoutSeconds * 1000;
    return {
      client: 'mssql',
      connection: {
        server: settings.host,
        port: settings.port,
        database: settings.database,
        user: settings.user,
        password: settings.password,
        requestTimeout: timeoutMs,
        connectionTimeout: settings.connectTimeoutSeconds * 1000,
        options: {
          encrypt: settings.ssl.mode !== 'disable',
          trustServerCertificate: settings.ssl.mode === 'require',
          ...(settings.ssl.ca ? { cryptoCredentialsDetails: { ca: settings.ssl.ca } } : {}),
          readOnlyIntent: true,
          useUTC: true,
          appName: 'reach-puller',
          // Every connection, the first and any routing redirect, goes to a host the policy passed.
          connector: (target: { host: string; port: number; localAddress?: string }, _lookup: unknown, signal?: AbortSignal) =>
            connectAllowed(target, settings.networkPolicy, target.host === settings.host ? 'source host' : 'SQL Server routing target', signal),
        },
      } as Knex.MsSqlConnectionConfig,
      pool: { min: 0, max: settings.maxConnections, idleTimeoutMillis: 10_000 },
    };
  },

  beginStatements(settings: ConnectionSettings) {
    // SET LOCK_TIMEOUT takes a literal; the value is a validated integer from the config.
    const lockTimeoutMs = Math.trunc(settings.statementTimeoutSeconds) * 1000;
    return [
      { sql: 'SET TRANSACTION ISOLATION LEVEL READ COMMITTED', bindings: [] },
      { sql: `SET LOCK_TIMEOUT ${lockTimeoutMs}`, bindings: [] },
      { sql: 'BEGIN TRANSACTION', bindings: [] },
    ];
  },
  endStatement: 'IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION',
  clockSql: 'SELECT CONVERT(varchar(40), SYSUTCDATETIME(), 121) AS now',

  describeSql(schema: string | undefined, view: string) {
    return {
      sql:
        'SELECT COLUMN_NAME AS name, DATA_TYPE AS data_type, DATETIME_PRECISION AS precision FROM INFORMATION_SCHEMA.COLUMNS ' +
        "WHERE TABLE_SCHEMA = COALESCE(?, 'dbo') AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
      bindings: [schema ?? null, view],
    };
  },

  selectCursor(knex, expression, spec) {
    if (spec.cursorKind !== 'integer') return knex.raw('CONVERT(varchar(40), ?, 121)', [expression]);
    return isRowversion(spec) ? knex.raw('CAST(? AS BIGINT)', [expression]) : expression;
  },
  bindCursor(knex, value, spec) {
    if (spec.cursorKind === 'instant') return knex.raw('CAST(? AS datetimeoffset(7))', [value]);
    if (spec.cursorKind === 'local') {
      const own = localType(spec);
      return own ? knex.raw(`CAST(CAST(? AS datetime2(7)) AS ${own})`, [value]) : knex.raw('CAST(? AS datetime2(7))', [value]);
    }
    return isRowversion(spec) ? knex.raw('CONVERT(binary(8), CAST(? AS BIGINT))', [value]) : knex.raw('CAST(? AS BIGINT)', [value]);
  },
  // tedious turns TCP keepalive on by itself; close() drops the socket without waiting.
  closeConnection: (connection) => (connection as { close(): void }).close(),
  rowsOf: (result) => result as SourceRow[],

  async inspectPrivileges(query) {
    return writePrivilegesOf(await query(PRIVILEGES_SQL));
  },
};
