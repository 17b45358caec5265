import '../helpers/los-angeles-time-zone.ts';
import { afterAll } from 'vitest';
import type { ReadSpec, Source } from '../../src/sources/source.ts';
import { openSource } from '../../src/sources/source-pools.ts';
import { TEST_DIALECTS } from '../helpers/partner.ts';
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
