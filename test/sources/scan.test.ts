import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page, ReadSpec, Source } from '../../src/sources/source.ts';
import { openSource } from '../../src/sources/source-pools.ts';
import { adminExec, freshDatabase, LIVE_DIALECTS, series, settingsFor, TYPES } from './source-fixtures.ts';

const ROWS = 50_000;

for (const dialect of LIVE_DIALECTS) {
  describe(`${dialect} scan`, () => {
    let source: Source;
    const spec: ReadSpec = { view: 'history', columns: ['id', 'note'], primaryKey: ['id'], cursor: 'changed_at', cursorKind: 'local', filter: {} };

    beforeAll(async () => {
      const url = await freshDatabase(dialect, `rp_src_scan_${dialect}`);
      const t = TYPES[dialect];
      const changedAt =
        dialect === 'postgres' ? `timestamp '2024-01-01 00:00:00' + (g / 7) * interval '1 millisecond'` : `timestamp '2024-01-01 00:00:00' + interval (g div 7) * 1000 microsecond`;
      await adminExec(
        dialect,
        url,
        `create table history (id int primary key, changed_at ${t.local} not null, note ${t.text})`,
        `insert into history select g, ${changedAt}, 'row' from ${series(dialect, ROWS)}`,
      );
      // One connection: a scan left early must not leave the pool stuck.
      source = openSource(settingsFor(dialect, url, { maxConnections: 1 }));
    });
    afterAll(async () => {
      await source?.close();
    });

    it(`streams ${ROWS} rows in order in pages of at most 1000`, async () => {
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

    it('scans only within (after, upTo]', async () => {
      const pages: Page[] = [];
      await source.withReadSession(async (session) => {
        const after = { cursor: '2024-01-01 00:00:00.014000', key: ['100'] }; // id 100 = 100/7 = 14 ms
        for await (const page of session.scan(spec, { after, upTo: '2024-01-01 00:00:00.028000' }, { chunkSize: 30 })) pages.push(page);
      });
      const ids = pages.flatMap((p) => p.rows.map((r) => Number(r.id)));
      // ms 14 holds ids 98..104; ms 28 holds ids 196..202.
      expect(ids).toEqual(Array.from({ length: 102 }, (_, i) => 101 + i));
    });

    it('stops on abort with RP_RUN_CANCELLED and leaves the source usable', async () => {
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
