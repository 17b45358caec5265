import '../helpers/los-angeles-time-zone.ts';
import { afterAll } from 'vitest';
import type { ReadSpec, Source } from '../../src/sources/source.ts';
import { openSource } from '../../src/sources/source-pools.ts';
import { startPrivateMariaDb } from '../helpers/mariadb-private-server.ts';
import { RO_PASSWORD, RO_USER, TEST_DIALECTS } from '../helpers/partner.ts';
import { describe, expect, test, type Lab } from '../fixture.ts';
import { settingsFor, TYPES } from './source-fixtures.ts';

// Around the 2024-03-10 spring-forward in Los Angeles (10:00Z), where local-time bugs show;
// 02:30 as wall-clock time does not exist there.
const INSTANTS = ['2024-03-10T02:30:00.250000Z', '2024-03-10T09:59:59.999999Z', '2024-03-10T10:00:00.000000Z', '2024-03-10T10:00:00.000001Z', '2024-03-10T10:30:00.500000Z'];
const sqlText = (iso: string) => iso.replace('T', ' ').replace('Z', '');

for (const dialect of TEST_DIALECTS) {
  describe(`${dialect} under TZ=America/Los_Angeles`, () => {
    const spec = (cursor: string, cursorKind: 'instant' | 'local'): ReadSpec => ({
      view: 'stamps',
      columns: ['id'],
      primaryKey: ['id'],
      cursor,
      cursorKind,
      filter: {},
    });

    /** The file's partner with table `stamps`, and a Source on it: made by the first test that needs it. */
    let ready: Promise<Source> | undefined;
    const sourceOf = (lab: Lab) => (ready ??= (async () => {
      const partner = await lab.partner(dialect);
      const t = TYPES[dialect];
      await partner.exec(
        ...(dialect === 'postgres' ? ["set TimeZone = 'UTC'"] : []),
        `create table stamps (id int primary key, at_instant ${t.instant}, at_local ${t.local})`,
        ...INSTANTS.map((iso, i) => `insert into stamps values (${i + 1}, '${sqlText(iso)}', '${sqlText(iso)}')`),
      );
      return openSource(settingsFor(dialect, partner.url));
    })());
    afterAll(async () => {
      await (await ready?.catch(() => undefined))?.close();
    });

    test('runs in a zone with an offset', () => {
      expect(new Date('2024-03-10T12:00:00Z').getTimezoneOffset()).toBe(420);
    });

    test('reads zoned cursors as the same UTC instants and compares them exactly', async ({ lab }) => {
      const source = await sourceOf(lab);
      const all = await source.withReadSession((s) => s.readPage(spec('at_instant', 'instant'), { limit: 10 }));
      expect(all.positions.map((p) => p.cursor)).toEqual(INSTANTS);
      const after = await source.withReadSession((s) =>
        s.readPage(spec('at_instant', 'instant'), { after: all.positions[1], upTo: INSTANTS[3], limit: 10 }),
      );
      expect(after.rows.map((r) => r.id)).toEqual([3, 4]);
    });

    test('reads wall-clock cursors unshifted, including the hour that does not exist in Los Angeles', async ({ lab }) => {
      const source = await sourceOf(lab);
      const all = await source.withReadSession((s) => s.readPage(spec('at_local', 'local'), { limit: 10 }));
      expect(all.positions.map((p) => p.cursor)).toEqual(INSTANTS.map(sqlText));
      const after = await source.withReadSession((s) => s.readPage(spec('at_local', 'local'), { after: all.positions[0], limit: 10 }));
      expect(after.rows.map((r) => r.id)).toEqual([2, 3, 4, 5]);
    });
  });
}

describe.skipIf(!TEST_DIALECTS.includes('postgres'))('postgres partner database whose default TimeZone is America/Los_Angeles', () => {
  test('reads timestamptz cursors and fields as UTC, even 1850 (printed -07:52:58 in that zone)', async ({ lab }) => {
    const partner = await lab.partner('postgres', 'lazone');
    // A partner's own default, which new sessions take unless the source pins its own zone.
    await partner.exec(`alter database "${partner.database}" set timezone to 'America/Los_Angeles'`);
    expect(await partner.query('select current_setting(\'TimeZone\') as zone')).toEqual([{ zone: 'America/Los_Angeles' }]);
    await partner.exec(
      'create table births (id int primary key, born timestamptz not null)',
      "insert into births values (1, '1850-01-01 12:00:00.5+00'), (2, '2024-03-10 10:00:00+00')",
    );
    const source = openSource(settingsFor('postgres', partner.url));
    try {
      const spec: ReadSpec = { view: 'births', columns: ['id', 'born'], primaryKey: ['id'], cursor: 'born', cursorKind: 'instant', filter: {} };
      const page = await source.withReadSession((s) => s.readPage(spec, { limit: 10 }));
      const utc = ['1850-01-01T12:00:00.500000Z', '2024-03-10T10:00:00.000000Z'];
      expect(page.positions.map((p) => p.cursor)).toEqual(utc);
      expect(page.rows.map((r) => r.born)).toEqual(utc);
    } finally {
      await source.close();
    }
  });
});

describe.skipIf(!TEST_DIALECTS.includes('postgres'))('postgres partner database whose default DateStyle is German', () => {
  test('reads timestamptz, timestamp and date columns in ISO text, cursors included', async ({ lab }) => {
    const partner = await lab.partner('postgres', 'german');
    // Sessions would print 01.12.2026 02:36:57.098876 UTC unless the source pins its own style.
    await partner.exec(`alter database "${partner.database}" set datestyle to 'German, DMY'`);
    expect(await partner.query("select current_setting('DateStyle') as style")).toEqual([{ style: 'German, DMY' }]);
    await partner.exec(
      'create table visits (id int primary key, at timestamptz not null, wall timestamp not null, day date not null)',
      "insert into visits values (1, '2024-03-10 10:00:00.5+00', '2024-03-10 02:30:00', '2024-03-10'), (2, '2024-12-01 02:36:57.098876+00', '2024-12-01 02:36:57', '2024-12-01')",
    );
    const source = openSource(settingsFor('postgres', partner.url));
    try {
      for (const [cursor, cursorKind] of [['at', 'instant'], ['wall', 'local']] as const) {
        const spec: ReadSpec = { view: 'visits', columns: ['id', 'at', 'wall', 'day'], primaryKey: ['id'], cursor, cursorKind, filter: {} };
        const page = await source.withReadSession((s) => s.readPage(spec, { limit: 10 }));
        expect(page.rows).toEqual([
          { id: 1, at: '2024-03-10T10:00:00.500000Z', wall: '2024-03-10 02:30:00.000000', day: '2024-03-10' },
          { id: 2, at: '2024-12-01T02:36:57.098876Z', wall: '2024-12-01 02:36:57.000000', day: '2024-12-01' },
        ]);
        expect(page.positions.map((p) => p.cursor)).toEqual(page.rows.map((r) => r[cursor]));
      }
    } finally {
      await source.close();
    }
  });
});

describe.skipIf(!TEST_DIALECTS.includes('mysql'))('MariaDB server whose default time_zone is -08:00', () => {
  test('reads TIMESTAMP cursors as UTC instants and compares them there', async () => {
    // The zone is the server's own default (no session may change the shared server's): a private server.
    const server = await startPrivateMariaDb({ database: 'partner', args: ['--default-time-zone=-08:00'] });
    const source = openSource(settingsFor('mysql', `mysql://${RO_USER}:${RO_PASSWORD}@127.0.0.1:${server.port}/partner`));
    try {
      await server.exec(
        "set time_zone = '+00:00'",
        'create table stamps (id int primary key, at_instant timestamp(6) null default null)',
        ...INSTANTS.map((iso, i) => `insert into stamps values (${i + 1}, '${sqlText(iso)}')`),
      );
      const spec: ReadSpec = { view: 'stamps', columns: ['id'], primaryKey: ['id'], cursor: 'at_instant', cursorKind: 'instant', filter: {} };
      const all = await source.withReadSession((s) => s.readPage(spec, { limit: 10 }));
      expect(all.positions.map((p) => p.cursor)).toEqual(INSTANTS);
      const after = await source.withReadSession((s) => s.readPage(spec, { after: all.positions[1], upTo: INSTANTS[3], limit: 10 }));
      expect(after.rows.map((r) => r.id)).toEqual([3, 4]);
    } finally {
      await source.close();
      await server.close();
    }
  });
});
