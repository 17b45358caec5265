import { afterAll, describe, expect, it } from 'vitest';
import { resolveMssqlServer } from '../helpers/mssql-server.ts';
import type { ReadSpec } from '../../src/sources/source.ts';
import { openSource } from '../../src/sources/source-pools.ts';
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
// types; what the statements do on a real SQL Server is the live suite's job (MSSQL_URL).
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
});

const server = await resolveMssqlServer();

describe.skipIf(!server.url)(`mssql live (${server.url ? `on ${server.reason}` : `skipped: ${server.reason}; set MSSQL_URL to run`})`, () => {
  const live = server.url ? openSource(settingsFor('mssql', server.url)) : offline;
  afterAll(async () => {
    if (live !== offline) await live.close();
    await server.stop();
  });

  it('reads the clock with 7 digits and reports a missing view', async () => {
    expect(await live.withReadSession((s) => s.clockUtc())).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$/);
    await expect(live.describeView('no_such_view')).rejects.toMatchObject({ code: 'RP_VIEW_MISSING' });
    // The live server's login is the administrator (testcontainers: sa): its privileges beyond SELECT are listed.
    const { writePrivileges } = await live.inspectPrivileges();
    if (new URL(server.url!).username === 'sa') expect(writePrivileges).toContain('sysadmin');
    else expect(writePrivileges.every((p) => typeof p === 'string' && p.length > 0)).toBe(true);
  });
});
