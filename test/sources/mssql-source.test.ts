import { afterAll, describe, expect, it } from 'vitest';
import type { ReadSpec } from '../../src/sources/source.ts';
import { openSource } from '../../src/sources/source-pools.ts';
import { mssqlSource } from '../../src/sources/mssql/mssql-source.ts';
import { assertReadOnlyCredential } from '../../src/security/privilege-policy.ts';
import { settingsFor } from './source-fixtures.ts';

// Compiling SQL opens no connection: knex only connects when a query runs.
const offline = openSource(settingsFor('mssql', 'mssql://reader:pw@mssql.invalid:1433/shop'));
afterAll(() => offline.close());

const orders = (over: Partial<ReadSpec> = {}): ReadSpec => ({
  view: 'dbo.orders',
  columns: ['id', 'total'],
  primaryKey: ['id'],
  cursor: 'updated_at',
  cursorKind: 'local',
  cursorType: 'datetime2',
  filter: { shop: 'x' },
  ...over,
});

// No server here: these tests check the SQL the source compiles and how it classifies column
// types; what the statements do on a real SQL Server is mssql-live.test.ts's job (MSSQL_URL).
describe('mssql offline: compiled SQL and type handling', () => {
  it('compiles a keyset page on datetime2 with 7-digit bound values', () => {
    const after = { cursor: '2024-01-02 03:04:05.1234567', key: ['42'] };
    const { sql, bindings } = offline.compilePage(orders(), { after, upTo: '2024-01-03 00:00:00.0000000', limit: 500 });
    expect(sql).toBe(
      'select top (@p0) [id], [total], CONVERT(varchar(40), [updated_at], 121) as [__rp_cursor] from [dbo].[orders] ' +
        'where [shop] = @p1 and [id] is not null and [updated_at] >= CAST(@p2 AS datetime2(7)) ' +
        'and ([updated_at] > CAST(@p3 AS datetime2(7)) or ([updated_at] = CAST(@p4 AS datetime2(7)) and [id] > @p5)) ' +
        'and [updated_at] <= CAST(@p6 AS datetime2(7)) order by [updated_at] asc, [id] asc',
    );
    expect(bindings).toEqual([500, 'x', after.cursor, after.cursor, after.cursor, '42', '2024-01-03 00:00:00.0000000']);
  });

  it('compiles a composite key to a lexicographic comparison and a fallback to COALESCE', () => {
    const { sql } = offline.compilePage(orders({ primaryKey: ['shop_id', 'id'], cursorFallback: 'created_at', filter: {} }), {
      after: { cursor: '2024-01-02 03:04:05.0000000', key: ['1', '2'] },
      limit: 10,
    });
    expect(sql).toContain(
      'where [shop_id] is not null and [id] is not null and COALESCE([updated_at], [created_at]) >= CAST(@p1 AS datetime2(7)) ' +
        'and (COALESCE([updated_at], [created_at]) > CAST(@p2 AS datetime2(7)) ' +
        'or (COALESCE([updated_at], [created_at]) = CAST(@p3 AS datetime2(7)) and [shop_id] > @p4) ' +
        'or (COALESCE([updated_at], [created_at]) = CAST(@p5 AS datetime2(7)) and [shop_id] = @p6 and [id] > @p7))',
    );
    expect(sql).toContain('order by COALESCE([updated_at], [created_at]) asc, [shop_id] asc, [id] asc');
  });

  it('compiles a rowversion cursor to a BIGINT cast and its bound to binary(8)', () => {
    const { sql, bindings } = offline.compilePage(orders({ cursor: 'rv', cursorKind: 'integer', cursorType: 'timestamp', filter: {} }), {
      after: { cursor: '123456789012', key: ['7'] },
      limit: 10,
    });
    expect(sql).toContain('CAST([rv] AS BIGINT) as [__rp_cursor]');
    expect(sql).toContain('[rv] > CONVERT(binary(8), CAST(@p2 AS BIGINT))');
    expect(bindings).toContain('123456789012');
  });

  it('decides a rowversion cursor is commit-ordered (reads stop below the commit horizon the clock statement selects), a bigint or time cursor not', () => {
    expect(mssqlSource.clockSql).toContain('CAST(MIN_ACTIVE_ROWVERSION() AS BIGINT) AS commit_horizon');
    for (const cursorType of ['timestamp', 'rowversion']) expect(mssqlSource.commitOrdered!(orders({ cursor: 'rv', cursorKind: 'integer', cursorType }))).toBe(true);
    for (const cursorType of ['bigint', 'datetime2']) expect(mssqlSource.commitOrdered!(orders({ cursorType }))).toBe(false);
  });

  it('compiles datetime bounds cast to datetime (its 1/300 s ticks) and datetimeoffset bounds as datetimeoffset(7)', () => {
    const datetime = offline.compilePage(orders({ cursorType: 'datetime', filter: {} }), { upTo: '2024-01-02 03:04:05.0030000', limit: 1 });
    expect(datetime.sql).toContain('[updated_at] <= CAST(CAST(@p1 AS datetime2(7)) AS datetime)');
    const offset = offline.compilePage(orders({ cursorKind: 'instant', cursorType: 'datetimeoffset', filter: {} }), { upTo: '2024-01-02T03:04:05.0000000Z', limit: 1 });
    expect(offset.sql).toContain('[updated_at] <= CAST(@p1 AS datetimeoffset(7))');
  });

  it('classifies type names as cursor kinds (no query run)', () => {
    const kinds = ['datetimeoffset', 'datetime2', 'datetime', 'smalldatetime', 'date', 'int', 'bigint', 'timestamp', 'rowversion'].map((dataType) =>
      offline.cursorKind({ name: 'c', dataType, precision: null }),
    );
    expect(kinds).toEqual(['instant', 'local', 'local', 'local', 'local', 'integer', 'integer', 'integer', 'integer']);
  });

  it('assigns each time type name the grain its values step by (a day, a minute, 10 ms for datetime, else its precision), and refuses other types naming the column', () => {
    const grain = (dataType: string, precision: number | null) => offline.cursorGrain({ name: 'c', dataType, precision });
    expect(grain('date', 0)).toBe(864_000_000_000n);
    expect(grain('smalldatetime', 0)).toBe(600_000_000n);
    expect(grain('datetime', 3)).toBe(100_000n);
    expect(grain('datetime2', 7)).toBe(1n);
    expect(grain('datetime2', 0)).toBe(10_000_000n);
    expect(grain('datetimeoffset', 3)).toBe(10_000n);
    expect(() => offline.cursorKind({ name: 'note', dataType: 'nvarchar', precision: null })).toThrow(
      expect.objectContaining({ code: 'RP_CURSOR_UNSUPPORTED', message: expect.stringContaining('note has type nvarchar') }),
    );
  });

  // The rows SQL Server answers the privilege inspection with, per kind of login; the live
  // suite runs the query itself. fn_my_permissions lists every effective database permission,
  // the ones that public grants to all users (VIEW ANY COLUMN ... DEFINITION) among them.
  const PUBLIC = ['CONNECT', 'VIEW ANY COLUMN ENCRYPTION KEY DEFINITION', 'VIEW ANY COLUMN MASTER KEY DEFINITION'];
  const database = (...names: string[]) => names.map((name) => ({ kind: 'database', name, securable: null }));
  const role = (kind: 'server role' | 'database role', name: string) => ({ kind, name, securable: null });
  const asked: string[] = [];
  const decide = async (rows: Record<string, unknown>[]) => {
    asked.length = 0;
    const writePrivileges = await mssqlSource.inspectPrivileges(async (sql) => (asked.push(sql), rows));
    expect(asked).toHaveLength(1);
    return writePrivileges;
  };
  // public's grants on the server: CONNECT SQL and VIEW ANY DATABASE, CONNECT on the endpoints.
  const PUBLIC_SERVER = [{ kind: 'server', name: 'CONNECT SQL', securable: null }, { kind: 'server', name: 'VIEW ANY DATABASE', securable: null },
    { kind: 'endpoint', name: 'CONNECT', securable: '#4' }];

  it('decides from the inspection rows: a SELECT-only user (SELECT, SHOWPLAN, VIEW DEFINITION, public\'s VIEWs) holds nothing that writes', async () => {
    const writePrivileges = await decide([...PUBLIC_SERVER, ...database(...PUBLIC, 'SELECT', 'SHOWPLAN', 'VIEW DEFINITION', 'VIEW DATABASE STATE'),
      { kind: 'schema', name: 'SELECT', securable: 'dbo' }, { kind: 'schema', name: 'VIEW DEFINITION', securable: 'dbo' },
      { kind: 'object or column', name: 'SELECT', securable: 'dbo.v_contacts' }]);
    expect(writePrivileges).toEqual([]);
    expect(() => assertReadOnlyCredential({ writePrivileges }, 'mssql://reader@db/shop')).not.toThrow();
  });

  it('decides from the inspection rows: db_datawriter, ALTER, CONTROL, EXECUTE and server roles are each refused, named', async () => {
    const cases: [Record<string, unknown>[], string[]][] = [
      [[role('database role', 'db_datawriter'), ...database(...PUBLIC, 'DELETE', 'INSERT', 'SELECT', 'UPDATE')],
        ['database role db_datawriter', 'DELETE on database', 'INSERT on database', 'UPDATE on database']],
      [database(...PUBLIC, 'ALTER', 'ALTER ANY SCHEMA', 'SELECT'), ['ALTER on database', 'ALTER ANY SCHEMA on database']],
      [database('CONTROL', 'CONNECT', 'CREATE TABLE', 'SELECT', 'TAKE OWNERSHIP', 'VIEW DEFINITION'),
        ['CONTROL on database', 'CREATE TABLE on database', 'TAKE OWNERSHIP on database']],
      [database(...PUBLIC, 'EXECUTE'), ['EXECUTE on database']],
      [[role('server role', 'dbcreator'), ...database(...PUBLIC)], ['server role dbcreator']],
      [[role('server role', 'sysadmin'), role('database role', 'db_owner'), ...database('CONNECT', 'CONTROL', 'SELECT')],
        ['server role sysadmin', 'database role db_owner', 'CONTROL on database']],
    ];
    for (const [rows, expected] of cases) {
      const writePrivileges = await decide(rows);
      expect(writePrivileges).toEqual(expected);
      expect(() => assertReadOnlyCredential({ writePrivileges }, 'mssql://reader@db/shop')).toThrow(
        expect.objectContaining({ code: 'RP_SOURCE_WRITABLE', message: expect.stringContaining(expected[0]!) }),
      );
    }
  });
  it('decides from the inspection rows: grants on a schema, a table, a column, a procedure, a user, a login, ownership and server permissions are each refused, named', async () => {
    const reader = [...PUBLIC_SERVER, ...database(...PUBLIC, 'SELECT')];
    const cases: [Record<string, unknown>, string][] = [
      [{ kind: 'schema', name: 'INSERT', securable: 'dbo' }, 'INSERT on schema dbo'],
      [{ kind: 'schema', name: 'ALTER', securable: 'dbo' }, 'ALTER on schema dbo'],
      [{ kind: 'schema', name: 'EXECUTE', securable: 'dbo' }, 'EXECUTE on schema dbo'],
      [{ kind: 'object or column', name: 'UPDATE', securable: 'dbo.t' }, 'UPDATE on object or column dbo.t'],
      [{ kind: 'object or column', name: 'UPDATE', securable: 'dbo.t.email' }, 'UPDATE on object or column dbo.t.email'],
      [{ kind: 'object or column', name: 'EXECUTE', securable: 'dbo.p_write' }, 'EXECUTE on object or column dbo.p_write'],
      [{ kind: 'object or column', name: 'OWNERSHIP', securable: 'dbo.t' }, 'OWNERSHIP on object or column dbo.t'],
      [{ kind: 'database principal', name: 'IMPERSONATE', securable: 'dbo' }, 'IMPERSONATE on database principal dbo'],
      [{ kind: 'database principal', name: 'ALTER', securable: 'writers' }, 'ALTER on database principal writers'],
      [{ kind: 'database principal', name: 'OWNERSHIP', securable: 'writers' }, 'OWNERSHIP on database principal writers'],
      [{ kind: 'server principal', name: 'IMPERSONATE', securable: 'sa' }, 'IMPERSONATE on server principal sa'],
      [{ kind: 'server', name: 'IMPERSONATE ANY LOGIN', securable: null }, 'IMPERSONATE ANY LOGIN on server'],
      [{ kind: 'server', name: 'CONTROL SERVER', securable: null }, 'CONTROL SERVER on server'],
      [{ kind: 'server', name: 'ALTER ANY LOGIN', securable: null }, 'ALTER ANY LOGIN on server'],
      [{ kind: 'endpoint', name: 'ALTER', securable: '#4' }, 'ALTER on endpoint #4'],
    ];
    for (const [row, expected] of cases) {
      const writePrivileges = await decide([...reader, row]);
      expect(writePrivileges).toEqual([expected]);
      expect(() => assertReadOnlyCredential({ writePrivileges }, 'mssql://reader@db/shop')).toThrow(
        expect.objectContaining({ code: 'RP_SOURCE_WRITABLE', message: expect.stringContaining(expected) }),
      );
    }
  });

  it('asks for every scope in one query: server, database, each schema, grants and ownership below them, server grants', async () => {
    await decide([]);
    const sql = asked[0]!.replace(/\s+/g, ' ');
    for (const source of ["fn_my_permissions(NULL, 'SERVER')", "fn_my_permissions(NULL, 'DATABASE')", "CROSS APPLY fn_my_permissions(QUOTENAME(s.name), 'SCHEMA')",
      'sys.database_permissions', 'sys.user_token', "DATABASE_PRINCIPAL_ID(N'public')", 'sys.objects AS o WHERE o.principal_id', 'r.owning_principal_id',
      'sys.server_permissions', 'sys.login_token', 'IS_SRVROLEMEMBER', 'IS_MEMBER']) {
      expect(sql).toContain(source);
    }
  });
});
