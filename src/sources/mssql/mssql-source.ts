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
 * One row `{ kind, name, securable }` per role held (`name`: a fixed server role, or a fixed
 * database role that can write or grant) and per permission held (`name`) on a securable:
 * - effective on the server, the database and each schema (fn_my_permissions: granted directly,
 *   through a role or group, or implied by a permission above or by ownership);
 * - granted on anything else (tables, views, procedures, functions, columns, users, roles, logins,
 *   endpoints...) to a principal of the user's or the login's token (itself, its roles and
 *   Windows groups, public), or held by owning an object or a role (`OWNERSHIP`).
 * Below the schema a permission comes only from such a grant or ownership (everything implied from
 * above is in the server, database and schema rows), so the catalog is read instead of asking
 * fn_my_permissions or HAS_PERMS_BY_NAME per object: the cost follows the grants, not the objects.
 * A user sees its own and its roles' grants, the objects, users and logins it holds a permission on
 * (metadata visibility); a name it cannot see falls back to `#id`. DENY is ignored: a grant it
 * would cancel is still refused. Left out: the system schemas and system objects (negative ids),
 * where no user object can be and public holds Microsoft's grants. Server-scope names carry the
 * server's collation: COLLATE DATABASE_DEFAULT keeps UNION ALL from a collation conflict.
 * writePrivilegesOf decides which rows write.
 */
const PRIVILEGES_SQL = `
  WITH db_token AS (SELECT principal_id FROM sys.user_token UNION SELECT DATABASE_PRINCIPAL_ID(N'public')),
    server_token AS (SELECT principal_id FROM sys.login_token UNION SELECT principal_id FROM sys.server_principals WHERE name = N'public' AND type = 'R')
  SELECT 'server role' AS kind, r.name AS name, CAST(NULL AS nvarchar(512)) AS securable
    FROM (VALUES ('sysadmin'), ('serveradmin'), ('securityadmin'), ('setupadmin'), ('processadmin'), ('diskadmin'), ('dbcreator'), ('bulkadmin')) AS r(name)
    WHERE IS_SRVROLEMEMBER(r.name) = 1
  UNION ALL SELECT 'database role', r.name, NULL
    FROM (VALUES ('db_owner'), ('db_datawriter'), ('db_ddladmin'), ('db_securityadmin'), ('db_accessadmin'), ('db_backupoperator')) AS r(name)
    WHERE IS_MEMBER(r.name) = 1
  UNION ALL SELECT 'server', permission_name COLLATE DATABASE_DEFAULT, NULL FROM fn_my_permissions(NULL, 'SERVER')
  UNION ALL SELECT 'database', permission_name, NULL FROM fn_my_permissions(NULL, 'DATABASE')
  UNION ALL SELECT 'schema', p.permission_name, s.name FROM sys.schemas AS s CROSS APPLY fn_my_permissions(QUOTENAME(s.name), 'SCHEMA') AS p
    WHERE s.name NOT IN (N'sys', N'INFORMATION_SCHEMA')
  UNION ALL SELECT LOWER(REPLACE(p.class_desc, '_', ' ')), p.permission_name, COALESCE(CASE p.class
      WHEN 1 THEN NULLIF(CONCAT(OBJECT_SCHEMA_NAME(p.major_id) + '.', OBJECT_NAME(p.major_id), '.' + COL_NAME(p.major_id, NULLIF(p.minor_id, 0))), '')
      WHEN 4 THEN USER_NAME(p.major_id) END, CONCAT('#', p.major_id))
    FROM sys.database_permissions AS p
    WHERE p.class NOT IN (0, 3) AND NOT (p.class = 1 AND p.major_id < 0) AND p.state IN ('G', 'W') AND p.grantee_principal_id IN (SELECT principal_id FROM db_token)
  UNION ALL SELECT 'object or column', 'OWNERSHIP', CONCAT(SCHEMA_NAME(o.schema_id), '.', o.name)
    FROM sys.objects AS o WHERE o.principal_id IN (SELECT principal_id FROM db_token)
  UNION ALL SELECT 'database principal', 'OWNERSHIP', r.name
    FROM sys.database_principals AS r WHERE r.type = 'R' AND r.owning_principal_id IN (SELECT principal_id FROM db_token)
  UNION ALL SELECT LOWER(REPLACE(p.class_desc, '_', ' ')) COLLATE DATABASE_DEFAULT, p.permission_name COLLATE DATABASE_DEFAULT,
      COALESCE(CASE p.class WHEN 101 THEN SUSER_NAME(p.major_id) END, CONCAT('#', p.major_id)) COLLATE DATABASE_DEFAULT
    FROM sys.server_permissions AS p
    WHERE p.class <> 100 AND p.state IN ('G', 'W') AND p.grantee_principal_id IN (SELECT principal_id FROM server_token)`;

const ROLE_KINDS = new Set(['server role', 'database role']);

/** Permissions that only read or connect (public holds CONNECT SQL, VIEW ANY DATABASE and CONNECT on endpoints); every VIEW ... permission reads too. */
const READ_PERMISSIONS = new Set(['CONNECT', 'CONNECT SQL', 'CONNECT ANY DATABASE', 'SELECT', 'SELECT ALL USER SECURABLES', 'SHOWPLAN']);

/** The privileges beyond reading among the inspection's rows: every role it found, and every other permission, named with its securable. */
export function writePrivilegesOf(rows: readonly SourceRow[]): string[] {
  return rows.flatMap(({ kind, name, securable }) => {
    const permission = String(name);
    if (ROLE_KINDS.has(String(kind))) return [`${String(kind)} ${permission}`];
    if (READ_PERMISSIONS.has(permission) || permission.startsWith('VIEW ')) return [];
    return [`${permission} on ${String(kind)}${securable == null ? '' : ` ${String(securable)}`}`];
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
  // MIN_ACTIVE_ROWVERSION: the lowest rowversion an open transaction may hold; every value
  // below it is committed (or rolled back), and no later transaction can take one below it.
  clockSql: 'SELECT CONVERT(varchar(40), SYSUTCDATETIME(), 121) AS now, CAST(MIN_ACTIVE_ROWVERSION() AS BIGINT) AS commit_horizon',
  // A rowversion is assigned at write time, not commit time: a transaction still open holds
  // one below rows committed since, and a read past it would skip that row forever.
  commitOrdered: isRowversion,

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
