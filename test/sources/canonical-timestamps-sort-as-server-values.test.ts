/**
 * Timestamps read from the real servers through the sources' own parsers (PostgreSQL type
 * parsers, MySQL typeCast, UTC sessions as the sources open them) come back as the text
 * the server itself formats for the same value, padded to six digits, and sort as the
 * server sorts the values: equal texts for equal values, never for different ones.
 * PostgreSQL timestamptz(0..6) and timestamp(0..6), years 1 to 9999; MariaDB DATETIME(0..6)
 * and TIMESTAMP(0..6). Fractions .1, .000001, .100000, .999999, leap days, clusters a
 * microsecond apart.
 */
import fc from 'fast-check';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { postgresTypes } from '../../src/sources/postgres/postgres-types.ts';
import { mysqlTypeCast } from '../../src/sources/mysql/mysql-types.ts';
import { describe, expect, test } from '../fixture.ts';

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
const FRACTIONS = [0, 1, 10, 100000, 100001, 500000, 999999, 123456, 1000];

/** Wall texts `YYYY-MM-DD HH:MM:SS.ffffff` near the edges: years, leap days, second and microsecond neighbours. */
function wallTexts(years: number[], seed: number): string[] {
  const base = years.flatMap((y) => [`${pad(y, 4)}-02-${y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28} 23:59:59`,
    `${pad(y, 4)}-12-31 23:59:59`, `${pad(y, 4)}-01-01 00:00:00`, `${pad(y, 4)}-06-15 12:30:00`]);
  const out = base.flatMap((b) => FRACTIONS.map((f) => `${b}.${pad(f, 6)}`));
  const random = fc.sample(fc.tuple(fc.constantFrom(...years), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 28 }),
    fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 999999 })), { numRuns: 300, seed })
    .map(([y, mo, d, h, mi, s, f]) => `${pad(y, 4)}-${pad(mo)}-${pad(d)} ${pad(h)}:${pad(mi)}:${pad(s)}.${pad(f, 6)}`);
  return [...out, ...random];
}

function expectSortedAsServer(rows: { text: string; same_as_previous: boolean | number | null }[]) {
  for (let i = 1; i < rows.length; i++) {
    const [a, b] = [rows[i - 1]!.text, rows[i]!.text];
    if (rows[i]!.same_as_previous == true) expect(b, `row ${i}`).toBe(a); // eslint-disable-line eqeqeq
    else expect(a < b, `${a} < ${b}`).toBe(true);
  }
}

describe('timestamps as the sources read them on the real servers', () => {
  test('PostgreSQL timestamptz(0..6) and timestamp(0..6): the server\'s own text, sorted as the server sorts', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    // Not 9999-12-31 23:59:59.5 and later: rounded to fewer digits it is the year 10000, which PostgreSQL prints with five digits and canonical-values.ts leaves as is (a known gap, outside these changes).
    const walls = wallTexts([1, 44, 999, 1000, 1582, 1900, 1970, 2000, 2024, 2100, 9998], 7);
    const client = new pg.Client({ connectionString: partner.url, types: postgresTypes, options: '-c TimeZone=UTC' });
    await client.connect();
    try {
      for (let p = 0; p <= 6; p++) {
        await partner.exec(`create table ts${p} (id serial primary key, tz timestamptz(${p}) not null, lt timestamp(${p}) not null)`,
          `insert into ts${p} (tz, lt) values ${walls.map((w) => `('${w}+00', '${w}')`).join(', ')}`);
        for (const [column, format] of [['tz', `to_char(tz at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`], ['lt', `to_char(lt, 'YYYY-MM-DD HH24:MI:SS.US')`]] as const) {
          const { rows } = await client.query<{ text: string; expected: string; same_as_previous: boolean | null }>(
            `select ${column} as text, ${format} as expected, ${column} = lag(${column}) over (order by ${column}, id) as same_as_previous from ts${p} order by ${column}, id`);
          expect(rows.length).toBe(walls.length);
          for (const r of rows) expect(r.text, `timestamp(${p}) ${column}`).toBe(r.expected);
          expectSortedAsServer(rows);
        }
      }
    } finally {
      await client.end();
    }
  });

  test('MariaDB DATETIME(0..6) and TIMESTAMP(0..6): the server\'s own text, sorted as the server sorts', async ({ lab }) => {
    const partner = await lab.partner('mysql');
    const dtWalls = wallTexts([1000, 1582, 1900, 1970, 2000, 2024, 2100, 9999], 11);
    const tsWalls = wallTexts([1971, 1980, 2000, 2024, 2037], 13);
    const connection = await mysql.createConnection({ uri: partner.url, timezone: 'Z', dateStrings: true, supportBigNumbers: true, bigNumberStrings: true, typeCast: mysqlTypeCast });
    await connection.query("SET time_zone = '+00:00'");
    try {
      for (let p = 0; p <= 6; p++) {
        for (const [type, walls] of [['datetime', dtWalls], ['timestamp', tsWalls]] as const) {
          const table = `${type}${p}`;
          await partner.exec(`create table ${table} (id int auto_increment primary key, v ${type}(${p}) not null)`,
            `insert into ${table} (v) values ${walls.map((w) => `('${w}')`).join(', ')}`);
          const suffix = type === 'timestamp' ? 'Z' : '';
          const [rows] = await connection.query(`select v as text, concat(date_format(v, '${type === 'timestamp' ? '%Y-%m-%dT%H:%i:%s.%f' : '%Y-%m-%d %H:%i:%s.%f'}'), '${suffix}') as expected,
              v = lag(v) over (order by v, id) as same_as_previous from ${table} order by v, id`) as unknown as [{ text: string; expected: string; same_as_previous: number | null }[]];
          expect(rows.length).toBe(walls.length);
          for (const r of rows) expect(r.text, `${type}(${p})`).toBe(r.expected);
          expectSortedAsServer(rows);
        }
      }
    } finally {
      await connection.end();
    }
  });
});
