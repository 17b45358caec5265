import { afterAll } from 'vitest';
import type { Page, ReadSpec, Source } from '../../src/sources/source.ts';
import { openSource } from '../../src/sources/source-pools.ts';
import { TEST_DIALECTS } from '../helpers/partner.ts';
import { describe, expect, test, type Lab } from '../fixture.ts';
import { series, settingsFor, TYPES } from './source-fixtures.ts';

const ROWS = 50_000;

for (const dialect of TEST_DIALECTS) {
  describe(`${dialect} scan`, () => {
    const spec: ReadSpec = { view: 'history', columns: ['id', 'note'], primaryKey: ['id'], cursor: 'changed_at', cursorKind: 'local', filter: {} };

    /** The file's partner with table `history`, and a Source of one connection on it: made by the first test that needs it. */
    let ready: Promise<Source> | undefined;
    const sourceOf = (lab: Lab) => (ready ??= (async () => {
      const partner = await lab.partner(dialect);
      const t = TYPES[dialect];
      const changedAt =
        dialect === 'postgres' ? `timestamp '2024-01-01 00:00:00' + (g / 7) * interval '1 millisecond'` : `timestamp '2024-01-01 00:00:00' + interval (g div 7) * 1000 microsecond`;
      await partner.exec(
        `create table history (id int primary key, changed_at ${t.local} not null, note ${t.text})`,
        `insert into history select g, ${changedAt}, 'row' from ${series(dialect, ROWS)}`,
      );
      // One connection: a scan left early must not leave the pool stuck.
      return openSource(settingsFor(dialect, partner.url, { maxConnections: 1 }));
    })());
    afterAll(async () => {
      await (await ready?.catch(() => undefined))?.close();
    });

    test(`streams ${ROWS} rows in order in pages of at most 1000`, async ({ lab }) => {
      const source = await sourceOf(lab);
      let count = 0;
      let previous = '';
      let largest = 0;
      await source.withReadSession(async (session) => {
        for await (const page of session.scan(spec, {}, { chunkSize: 1000 })) {
          largest = Math.max(largest, page.rows.length);
          for (const p of page.positions) {
            const sortable = `${p.cursor}|${p.key[0]!.padStart(6, '0')}`;
            expect(sortable > previous).toBe(true);
            previous = sortable;
          }
          count += page.rows.length;
        }
      });
      expect(count).toBe(ROWS);
      expect(largest).toBe(1000);
    });

    test('scans only within (after, upTo]', async ({ lab }) => {
      const source = await sourceOf(lab);
      const pages: Page[] = [];
      await source.withReadSession(async (session) => {
        const after = { cursor: '2024-01-01 00:00:00.014000', key: ['100'] }; // id 100 = 100/7 = 14 ms
        for await (const page of session.scan(spec, { after, upTo: '2024-01-01 00:00:00.028000' }, { chunkSize: 30 })) pages.push(page);
      });
      const ids = pages.flatMap((p) => p.rows.map((r) => Number(r.id)));
      // ms 14 holds ids 98..104; ms 28 holds ids 196..202.
      expect(ids).toEqual(Array.from({ length: 102 }, (_, i) => 101 + i));
    });

    test('stops on abort with RP_RUN_CANCELLED and leaves the source usable', async ({ lab }) => {
      const source = await sourceOf(lab);
      const controller = new AbortController();
      let seen = 0;
      const outcome = await source
        .withReadSession(async (session) => {
          for await (const page of session.scan(spec, {}, { chunkSize: 500, signal: controller.signal })) {
            seen += page.rows.length;
            if (seen >= 1500) controller.abort();
          }
        })
        .catch((e: unknown) => e);
      expect(outcome).toMatchObject({ code: 'RP_RUN_CANCELLED' });
      expect(seen).toBe(1500);
      const page = await source.withReadSession((s) => s.readPage(spec, { limit: 3 }));
      expect(page.rows.map((r) => Number(r.id))).toEqual([1, 2, 3]);
    });
  });
}
