/**
 * Into the built-in store, a page after one whose records were all new is decided without
 * looking its delivery records up (page-delivery.ts `NewRecordsHint`): its commit proves the
 * records new. When some were delivered after all (by an earlier run, or by a concurrent
 * page that commits while this one waits), the page is decided again against them: the same
 * counts and the same store as if it had looked first, and no record goes back to an older
 * version. On the server PostgreSQL and on PGlite.
 */
import { sql } from 'kysely';
import { page, peopleStream } from '../helpers/people-pages.ts';
import { describe, expect, test } from '../fixture.ts';

describe('store pages proved new at commit', () => {
  for (const where of ['server PostgreSQL', 'embedded PGlite'] as const) {
    test(`${where}: a page after new ones that holds delivered records counts and stores as if looked up first`, async ({ lab }) => {
      const store = where === 'server PostgreSQL' ? await lab.store() : await lab.embeddedStore();
      const s = await peopleStream(lab, store);
      expect(await s.deliver([page({ 1: 'Ann', 2: 'Bob' }, 10)])).toEqual([{ sent: 2, deleted: 0, unchanged: 0 }]);

      expect(await s.deliver([
        page({ 3: 'Cy', 4: 'Di' }, 11), // looked up: none delivered, so the next page is taken for new
        page({ 1: 'Ann', 5: 'Eve' }, 10), // taken for new; 1 was delivered with this content and version: unchanged
        page({ 2: 'Old' }, 9), // 2 was delivered at a newer version: stale
        page({ 6: 'Fay' }, 12),
        page({ 7: 'Gus', 8: 'Hal' }, 13), // the page before was new: taken for new, and new
        page({ 2: 'Older', 9: 'Ida' }, 8), // taken for new; 2 was not: stale
      ])).toEqual([
        { sent: 2, deleted: 0, unchanged: 0 }, { sent: 1, deleted: 0, unchanged: 1 }, { sent: 0, deleted: 0, unchanged: 1 },
        { sent: 1, deleted: 0, unchanged: 0 }, { sent: 2, deleted: 0, unchanged: 0 }, { sent: 1, deleted: 0, unchanged: 1 },
      ]);
      expect(await s.stored()).toEqual({ 1: 'Ann', 2: 'Bob', 3: 'Cy', 4: 'Di', 5: 'Eve', 6: 'Fay', 7: 'Gus', 8: 'Hal', 9: 'Ida' });
      expect(await s.delivered()).toEqual({ 1: '10', 2: '10', 3: '11', 4: '11', 5: '10', 6: '12', 7: '13', 8: '13', 9: '08' });
    });
  }

  test('server PostgreSQL: a page taken for new waits for a concurrent page of its records, then keeps that page\'s newer version', async ({ lab }) => {
    const store = await lab.store();
    const s = await peopleStream(lab, store);
    // A concurrent page (a pull beside a backfill) wrote record 5 at a newer version and has not committed.
    const outcomes = await s.deliverPast([page({ 1: 'Ann' }, 10), page({ 4: 'Di', 5: 'Eve' }, 11)], s.concurrentWrite('people', '5', { id: '5', first_name: 'New' }, 30));
    expect(outcomes).toEqual([{ sent: 1, deleted: 0, unchanged: 0 }, { sent: 1, deleted: 0, unchanged: 1 }]);
    expect(await s.stored()).toEqual({ 1: 'Ann', 4: 'Di', 5: 'New' });
    expect(await s.delivered()).toEqual({ 1: '10', 4: '11', 5: '30' });
    // Nothing of the undone attempt is left behind.
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from resources`.execute(store.db);
    expect(rows[0]!.n).toBe(3);
  });
});
