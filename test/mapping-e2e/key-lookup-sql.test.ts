/** The SQL retry-rejects and lookbacks compile to, on SQL Server (no server needed: knex compiles offline). */
import { afterAll, describe, expect, it } from 'vitest';
import { keyLookupQuery } from '../../src/sources/keyset.ts';
import { mssqlSource } from '../../src/sources/mssql/mssql-source.ts';
import type { ReadSpec } from '../../src/sources/source.ts';
import { openSource } from '../../src/sources/source-pools.ts';
import type { SqlSource } from '../../src/sources/sql-source.ts';
import { settingsFor } from '../sources/source-fixtures.ts';

const offline = openSource(settingsFor('mssql', 'mssql://reader:pw@mssql.invalid:1433/shop')) as SqlSource;
afterAll(() => offline.close());

const spec: ReadSpec = {
  view: 'dbo.orders', columns: ['shop_id', 'id', 'total'], primaryKey: ['shop_id', 'id'], cursor: 'updated_at',
  cursorKind: 'local', cursorType: 'datetime2', filter: { tenant: 'x' },
};

describe('key lookups and keyless positions (mssql)', () => {
  it('reads quarantined keys by bound primary key values within the filter, in (cursor, key) order', () => {
    const { sql, bindings } = keyLookupQuery(offline.knex, mssqlSource, spec, [['1', '7'], ['2', '9']]).toSQL().toNative();
    expect(sql).toBe(
      'select [shop_id], [id], [total], CONVERT(varchar(40), [updated_at], 121) as [__rp_cursor] from [dbo].[orders] ' +
        'where [tenant] = @p0 and [updated_at] is not null and (([shop_id] = @p1 and [id] = @p2) or ([shop_id] = @p3 and [id] = @p4)) ' +
        'order by [updated_at] asc, [shop_id] asc, [id] asc',
    );
    expect(bindings).toEqual(['x', '1', '7', '2', '9']);
  });

  it('reads a position without key (a lookback start) from its cursor value inclusive', () => {
    const { sql } = offline.compilePage(spec, { after: { cursor: '2024-01-02 03:04:05.0000000', key: [] }, limit: 10 });
    expect(sql).toContain('where [tenant] = @p1 and [shop_id] is not null and [id] is not null and [updated_at] >= CAST(@p2 AS datetime2(7)) order by');
  });
});
