import { afterAll } from 'vitest';
import { PermanentError, type PullerError } from '../../src/errors.ts';
import { openPoolCount, openSource } from '../../src/sources/source-pools.ts';
import type { ReadSpec, Source } from '../../src/sources/source.ts';
import type { SqlSource } from '../../src/sources/sql-source.ts';
import { TEST_DIALECTS, type TestDialect } from '../helpers/partner.ts';
import { describe, expect, test, type Lab } from '../fixture.ts';
import { readAll, series, settingsFor, TYPES } from './source-fixtures.ts';

/** A timestamp literal `seconds` (+ `micros`) after 2024-01-01 00:00:00, as SQL. */
function at(dialect: TestDialect, seconds: string, micros = '0'): string {
  return dialect === 'postgres'
    ? `(timestamp '2024-01-01 00:00:00' + (${seconds}) * interval '1 second' + (${micros}) * interval '1 microsecond')`
    : `(timestamp '2024-01-01 00:00:00' + interval (${seconds}) second + interval (${micros}) microsecond)`;
}
const div = (dialect: TestDialect, a: string, b: number) => (dialect === 'postgres' ? `(${a} / ${b})` : `(${a} div ${b})`);

function instant(seconds: number, micros = 0): string {
  const s = new Date(Date.UTC(2024, 0, 1, 0, 0, seconds)).toISOString().slice(0, 19);
  return `${s}.${String(micros).padStart(6, '0')}Z`;
}

const G = Array.from({ length: 250 }, (_, i) => i + 1);
const keyOf = (g: number) => `${g % 3}:${g}`;

for (const dialect of TEST_DIALECTS) {
  describe(`${dialect} keyset reads`, () => {
    const items = (over: Partial<ReadSpec> = {}): ReadSpec => ({
      view: 'items',
      columns: ['tenant_id', 'id', 'updated_at', 'tenant', 'amount', 'payload'],
      primaryKey: ['tenant_id', 'id'],
      cursor: 'updated_at',
      cursorKind: 'instant',
      filter: {},
      ...over,
    });

    /** The file's partner with tables `items`, `micro` and `big`, and a Source on it: made by the first test that needs it. */
    let ready: Promise<{ source: Source; db: string }> | undefined;
    const sourceOf = (lab: Lab) => (ready ??= (async () => {
      const partner = await lab.partner(dialect);
      const t = TYPES[dialect];
      await partner.exec(
        `create table items (tenant_id int not null, id bigint not null, updated_at ${t.instant}, created_at ${t.instant},
          tenant ${t.text}, amount ${t.decimal}, payload ${t.json}, primary key (tenant_id, id))`,
        // 25 rows share each second (ties across every page of 7); every 50th has no cursor.
        `insert into items select mod(g, 3), g, case when mod(g, 50) = 0 then null else ${at(dialect, div(dialect, 'g', 25))} end,
          ${at(dialect, 'g')}, case when mod(g, 2) = 0 then 'a' else 'b' end, 12345678901234.123456, '{"g": 1}' from ${series(dialect, 250)}`,
        `create table micro (id bigint primary key, at_instant ${t.instant}, at_local ${t.local})`,
        // 3000 rows inside one millisecond: 1000 distinct microseconds, three rows each.
        `insert into micro select g, ${at(dialect, '0', 'mod(g, 1000)')}, ${at(dialect, '0', 'mod(g, 1000)')} from ${series(dialect, 3000)}`,
        `create table big (id bigint primary key, version bigint not null)`,
        `insert into big select 9007199254740993 + g, 9007199254740993 + ${div(dialect, 'g', 3)} from ${series(dialect, 30)}`,
      );
      return { source: openSource(settingsFor(dialect, partner.url)), db: partner.database };
    })());
    afterAll(async () => {
      await (await ready?.catch(() => undefined))?.source.close();
    });

    test('pages through ties of 25 rows with pages of 7 and a composite key, every row once, in order', async ({ lab }) => {
      const { source } = await sourceOf(lab);
      const { rows, positions } = await readAll(source, items(), 7);
      const expected = G.filter((g) => g % 50 !== 0).sort((a, b) => Math.floor(a / 25) - Math.floor(b / 25) || a % 3 - b % 3 || a - b);
      expect(rows.map((r) => `${r.tenant_id}:${r.id}`)).toEqual(expected.map(keyOf));
      expect(positions[0]).toEqual({ cursor: instant(0), key: ['0', '3'] });
      expect(positions.at(-1)).toEqual({ cursor: instant(9), key: ['2', '248'] });
    });

    test('keeps exact values: decimal and bigint as strings, JSON parsed, timestamps canonical', async ({ lab }) => {
      const { source } = await sourceOf(lab);
      const page = await source.withReadSession((s) => s.readPage(items(), { limit: 1 }));
      expect(page.rows[0]).toEqual({
        tenant_id: 0,
        id: '3',
        updated_at: instant(0),
        tenant: 'b',
        amount: '12345678901234.123456',
        payload: { g: 1 },
      });
    });

    test('stops at upTo inclusively', async ({ lab }) => {
      const { source } = await sourceOf(lab);
      const { rows } = await readAll(source, items(), 10, instant(1));
      expect(rows).toHaveLength(49); // seconds 0 (g 1-24) and 1 (g 25-49, minus none)
      expect(rows.every((r) => Number(r.id) < 50)).toBe(true);
    });

    test('orders by COALESCE(cursor, fallback) and picks up NULL-cursor rows through the fallback', async ({ lab }) => {
      const { source } = await sourceOf(lab);
      const spec = items({ cursorFallback: 'created_at' });
      const { rows } = await readAll(source, spec, 9);
      const cursorOf = (g: number) => (g % 50 === 0 ? g : Math.floor(g / 25));
      const expected = [...G].sort((a, b) => cursorOf(a) - cursorOf(b) || a % 3 - b % 3 || a - b);
      expect(rows.map((r) => `${r.tenant_id}:${r.id}`)).toEqual(expected.map(keyOf));
    });

    test('counts NULL-cursor rows within the filter, and none when the fallback covers them', async ({ lab }) => {
      const { source } = await sourceOf(lab);
      await source.withReadSession(async (s) => {
        expect((await s.countUnpositioned(items())).nullCursor).toBe(5);
        expect((await s.countUnpositioned(items({ filter: { tenant_id: 1 } }))).nullCursor).toBe(2);
        expect((await s.countUnpositioned(items({ cursorFallback: 'created_at' }))).nullCursor).toBe(0);
      });
    });

    test('binds filter values: a quote-laden value matches nothing and harms nothing', async ({ lab }) => {
      const { source } = await sourceOf(lab);
      const hostile = await readAll(source, items({ filter: { tenant: "x'; drop table items; --" } }), 50);
      expect(hostile.rows).toHaveLength(0);
      const { rows } = await readAll(source, items({ filter: { tenant: 'a', tenant_id: 1 } }), 50);
      expect(rows.map((r) => Number(r.id))).toEqual(
        G.filter((g) => g % 2 === 0 && g % 3 === 1 && g % 50 !== 0).sort((a, b) => Math.floor(a / 25) - Math.floor(b / 25) || a - b),
      );
    });

    for (const [column, kind, render] of [
      ['at_instant', 'instant', (m: number) => instant(0, m)],
      ['at_local', 'local', (m: number) => `2024-01-01 00:00:00.${String(m).padStart(6, '0')}`],
    ] as const) {
      test(`pages 3000 rows inside one millisecond by microsecond (${kind}) to the end exactly`, async ({ lab }) => {
        const { source } = await sourceOf(lab);
        const spec: ReadSpec = { view: 'micro', columns: ['id'], primaryKey: ['id'], cursor: column, cursorKind: kind, filter: {} };
        const { rows, positions } = await readAll(source, spec, 128);
        const expected = Array.from({ length: 3000 }, (_, i) => i + 1).sort((a, b) => (a % 1000) - (b % 1000) || a - b);
        expect(rows.map((r) => Number(r.id))).toEqual(expected);
        expect(positions.map((p) => p.cursor)).toEqual(expected.map((g) => render(g % 1000)));
      });
    }

    test('round-trips bigint cursors and keys beyond 2^53 exactly', async ({ lab }) => {
      const { source } = await sourceOf(lab);
      const spec: ReadSpec = { view: 'big', columns: ['id', 'version'], primaryKey: ['id'], cursor: 'version', cursorKind: 'integer', filter: {} };
      const { rows, positions } = await readAll(source, spec, 4);
      const expected = Array.from({ length: 30 }, (_, i) => i + 1).map((g) => ({
        cursor: String(9007199254740993n + BigInt(Math.floor(g / 3))),
        key: [String(9007199254740993n + BigInt(g))],
      }));
      expect(positions).toEqual(expected);
      expect(rows.map((r) => r.version)).toEqual(expected.map((p) => p.cursor));
    });

    test('describes a view, qualified or not, and maps cursor kinds', async ({ lab }) => {
      const { source, db } = await sourceOf(lab);
      const columns = await source.describeView('items');
      expect(columns.map((c) => c.name)).toEqual(['tenant_id', 'id', 'updated_at', 'created_at', 'tenant', 'amount', 'payload']);
      const qualified = await source.describeView(`${dialect === 'postgres' ? 'public' : db}.items`);
      expect(qualified).toEqual(columns);
      const kind = (name: string) => source.cursorKind(columns.find((c) => c.name === name)!);
      expect(kind('updated_at')).toBe('instant');
      expect(kind('id')).toBe('integer');
      expect((await source.describeView('micro')).map((c) => source.cursorKind(c))).toEqual(['integer', 'instant', 'local']);
      expect(() => kind('tenant')).toThrow(expect.objectContaining({ code: 'RP_CURSOR_UNSUPPORTED', message: expect.stringContaining('tenant') }));
    });

    test('reports a missing view as RP_VIEW_MISSING naming it, from describe and from a read', async ({ lab }) => {
      const { source } = await sourceOf(lab);
      const described = await source.describeView('no_such_view').catch((e: unknown) => e);
      expect(described).toBeInstanceOf(PermanentError);
      expect(described).toMatchObject({ code: 'RP_VIEW_MISSING', message: expect.stringContaining('no_such_view') });
      const read = await source.withReadSession((s) => s.readPage(items({ view: 'no_such_view' }), { limit: 1 })).catch((e: unknown) => e);
      expect(read).toMatchObject({ code: 'RP_VIEW_MISSING', message: expect.stringContaining('no_such_view') });
    });

    test('reads the partner clock in UTC with microseconds', async ({ lab }) => {
      const { source } = await sourceOf(lab);
      const clock = await source.withReadSession((s) => s.clockUtc());
      expect(clock).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
      expect(Math.abs(Date.parse(clock) - Date.now())).toBeLessThan(60_000);
    });

    test('refuses writes inside a read session and on a bare pooled connection', async ({ lab }) => {
      const { source } = await sourceOf(lab);
      const refused = dialect === 'postgres' ? { code: '25006' } : { errno: 1792 };
      const attempt = (sql: string) => source.withReadSession((s) => s.raw(sql)).catch((e: PullerError) => e.cause);
      expect(await attempt("insert into items (tenant_id, id, tenant) values (9, 9, 'w')")).toMatchObject(refused);
      expect(await attempt(dialect === 'postgres' ? 'create temp table scratch (i int)' : 'create temporary table scratch (i int)')).toMatchObject(refused);
      // Outside any session the connection's own default is read-only too.
      await expect((source as SqlSource).knex.raw('create table stray (i int)')).rejects.toMatchObject(refused);
      expect(await source.withReadSession((s) => s.raw('select count(*) as n from items'))).toEqual([{ n: '250' }]);
    });

    test('reports privileges beyond SELECT of the admin user', async ({ lab }) => {
      const { source } = await sourceOf(lab);
      const report = await source.inspectPrivileges();
      expect(report.writePrivileges).toContain(dialect === 'postgres' ? 'SUPERUSER' : 'ALL PRIVILEGES on *.*');
    });
  });
}

describe.skipIf(!TEST_DIALECTS.includes('mysql'))('mysql DATETIME precision', () => {
  /** Table `events` in the file's MariaDB partner, and a Source on it: made by the first test that needs it. */
  let ready: Promise<Source> | undefined;
  const sourceOf = (lab: Lab) => (ready ??= (async () => {
    const partner = await lab.partner('mysql', 'datetime');
    await partner.exec(
      'create table events (id int primary key, at_second datetime not null, at_micro datetime(6) not null, on_day date not null)',
      // 300 rows over 3 seconds: ties of 100 at second precision; DATETIME(6) ties of 3.
      `insert into events select seq, timestamp '2024-01-01 00:00:00' + interval (seq div 100) second,
        timestamp '2024-01-01 00:00:00' + interval (seq div 3) microsecond, date '2024-01-01' + interval (seq div 150) day from seq_1_to_300`,
    );
    return openSource(settingsFor('mysql', partner.url));
  })());
  afterAll(async () => {
    await (await ready?.catch(() => undefined))?.close();
    expect(openPoolCount()).toBe(0);
  });

  for (const [column, cursorOf] of [
    ['at_second', (g: number) => `2024-01-01 00:00:0${Math.floor(g / 100)}.000000`],
    ['at_micro', (g: number) => `2024-01-01 00:00:00.${String(Math.floor(g / 3)).padStart(6, '0')}`],
    ['on_day', (g: number) => `2024-01-0${1 + Math.floor(g / 150)} 00:00:00.000000`],
  ] as const) {
    test(`pages ${column} ties with pages of 40, every row once`, async ({ lab }) => {
      const source = await sourceOf(lab);
      const spec: ReadSpec = { view: 'events', columns: ['id', column], primaryKey: ['id'], cursor: column, cursorKind: 'local', filter: {} };
      const { rows, positions } = await readAll(source, spec, 40);
      const expected = Array.from({ length: 300 }, (_, i) => i + 1);
      expect(rows.map((r) => r.id)).toEqual(expected);
      expect(positions.map((p) => p.cursor)).toEqual(expected.map(cursorOf));
    });
  }
});
