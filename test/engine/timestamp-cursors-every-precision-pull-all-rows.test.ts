/**
 * Pulls whose cursor is a timestamp of every precision the servers have (PostgreSQL
 * timestamptz(0..6) and timestamp(0..6), MariaDB DATETIME(0..6) and TIMESTAMP(0..6)), with
 * rows a microsecond apart, ties, fractions .1/.000001/.100000, leap days, pages of two: every
 * row reaches the store with its timestamp as the server prints it, the watermark is the
 * newest cursor, and rows updated later stay at their newest value. MariaDB zero dates
 * (sql_mode permitting) are read as the oldest cursor, not lost.
 */
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test } from '../fixture.ts';

const WALLS = [
  '2020-02-29 23:59:59.999999', '2020-03-01 00:00:00.000000', '2020-03-01 00:00:00.000001', '2020-03-01 00:00:00.1',
  '2020-03-01 00:00:00.100000', '2020-03-01 00:00:00.100001', '2020-03-01 00:00:00.5', '2020-03-01 00:00:00.999999',
  '2020-03-01 00:00:01', '2020-03-01 00:00:01', '2021-12-31 23:59:59.000001', '2022-01-01 00:00:00.000010',
];

const CASES = [
  ...[0, 1, 3, 6].flatMap((p) => [
    { dialect: 'postgres' as const, type: `timestamptz(${p})`, instant: true },
    { dialect: 'postgres' as const, type: `timestamp(${p})`, instant: false },
    { dialect: 'mysql' as const, type: `datetime(${p})`, instant: false },
    { dialect: 'mysql' as const, type: `timestamp(${p})`, instant: true },
  ]),
];

describe('timestamp cursors of every precision', () => {
  for (const { dialect, type, instant } of CASES) {
    test(`${dialect} ${type}: every row, as the server prints it, newest value kept`, async ({ lab }) => {
      const partner = await lab.partner(dialect);
      const store = await lab.store();
      const name = lab.unique('tc');
      const table = `t_${name}`;
      const nullable = dialect === 'mysql' && type.startsWith('timestamp') ? 'null default null' : 'not null';
      await lab.view(partner, name, `id bigint primary key, email ${partner.types.text}, updated_at ${type} ${nullable}`,
        `values ${WALLS.map((w, i) => `(${i + 1}, 'p${i + 1}@x.io', '${w}')`).join(', ')}`);
      const connector = await lab.connector(store, partner, {
        id: name, source: 'settle_seconds: 0',
        body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 2,
      fields: { id: id, email: email, created_at: updated_at } }
`,
      });
      const printed = async () => {
        const format = dialect === 'postgres'
          ? (instant ? `to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')` : `to_char(updated_at, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`)
          : `date_format(updated_at, '%Y-%m-%dT%H:%i:%s.%fZ')`;
        const rows = await partner.query<{ id: string | number; email: string; at: string }>(`select id, email, ${format} as at from ${table} order by id`);
        return rows.map((r) => ({ id: String(r.id), email: r.email, created_at: r.at }));
      };
      const [first] = await lab.pull(store, connector);
      expect(first).toMatchObject({ status: 'succeeded', rowsRead: WALLS.length });
      const view = await printed();
      expect(await readResources(store.db, connector.tenant, 'contacts')).toEqual(view);
      const newest = view.map((r) => r.created_at).sort().at(-1)!;
      expect(first!.watermarkAfter!.cursor).toBe(instant ? newest : newest.replace('T', ' ').replace('Z', ''));

      // Newer values a microsecond past the watermark (rounded or truncated by the column, still newer or equal).
      await partner.exec(`update ${table} set email = concat('new', email), updated_at = '2022-01-01 00:00:01.000001' where id in (2, 5)`,
        `update ${table} set email = concat('newer', email), updated_at = '2022-01-01 00:00:02.9' where id = 7`);
      const [second] = await lab.pull(store, connector);
      expect(second).toMatchObject({ status: 'succeeded', rowsRead: 3 });
      expect(await readResources(store.db, connector.tenant, 'contacts')).toEqual(await printed());
    });
  }

  test('MariaDB zero dates in a DATETIME cursor are the oldest rows, read, and later rows after them', async ({ lab }) => {
    const partner = await lab.partner('mysql');
    const store = await lab.store();
    const name = lab.unique('zd');
    const table = `t_${name}`;
    await lab.view(partner, name, `id bigint primary key, email varchar(255), updated_at datetime(3) not null`);
    await partner.exec("set sql_mode = ''",
      `insert into ${table} values (1, 'a@x.io', '0000-00-00 00:00:00'), (2, 'b@x.io', '0000-00-00 00:00:00'), (3, 'c@x.io', '2024-01-01 00:00:00.5'), (4, 'd@x.io', '1000-01-01 00:00:00')`);
    const connector = await lab.connector(store, partner, {
      id: name, source: 'settle_seconds: 0',
      body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 1, fields: { id: id, email: email } }
`,
    });
    const [first] = await lab.pull(store, connector);
    expect(first).toMatchObject({ status: 'succeeded', rowsRead: 4 });
    expect(first!.watermarkAfter!.cursor).toBe('2024-01-01 00:00:00.500000');
    expect((await readResources(store.db, connector.tenant, 'contacts')).map((r) => r.id)).toEqual(['1', '2', '3', '4']);
  });
});
