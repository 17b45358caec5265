/**
 * Review of page-delivery.ts `NewRecordsHint`: what can happen to a page guessed new while
 * it commits, besides a delivery record it did not look up.
 *
 * - Another error inside its savepoint (here a trigger of the state store refusing one
 *   delivery record): the run fails, the watermark stays after the last page written, and
 *   nothing of the failed page stays; the next pull delivers the rest (server PostgreSQL and
 *   PGlite, whose one connection must come out usable).
 * - A concurrent writer whose uncommitted delivery record the guessed page waits for, that
 *   rolls back: the page's records are new after all, written and counted sent.
 * - A concurrent delete, newer, of one of its records, that commits while it waits: the
 *   guessed page's older read is stale, and the record stays deleted.
 * - Another stream of the connector writing the same record into the same schema,
 *   uncommitted: the guessed page waits, merges, and is still counted as new.
 */
import { sql } from 'kysely';
import { loadWatermark } from '../../src/store/delivery-state.ts';
import { at, page, peopleStream } from '../helpers/people-pages.ts';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test } from '../fixture.ts';

describe('store pages guessed new: failures while they commit', () => {
  for (const where of ['server PostgreSQL', 'embedded PGlite'] as const) {
    test(`${where}: another error in a guessed page fails the pull before its checkpoint; the next pull delivers the rest`, async ({ lab }) => {
      const store = where === 'server PostgreSQL' ? await lab.store() : await lab.embeddedStore();
      const partner = await lab.partner('postgres');
      const name = lab.unique('gerr');
      await lab.view(partner, name, 'id bigint primary key, name text, updated_at timestamptz not null',
        `select g, 'n' || g, timestamptz '2024-05-01 00:00:00+00' + g * interval '1 second' from generate_series(1, 12) g`);
      const connector = await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0', body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 3, fields: { id: id, first_name: name } }
` });
      // Pages {1,2,3} (looked up: new), {4,5,6} and {7,8,9} (guessed new); the store refuses 8's delivery record.
      await sql.raw(`create function refuse_8() returns trigger language plpgsql as $$
        begin raise exception 'refused by the state store' using errcode = 'check_violation'; end $$;
        create trigger refuse_8 before insert on delivered for each row
        when (new.connector_id = '${name}' and new.external_id = '8') execute function refuse_8()`).execute(store.db);

      const [failed] = await lab.pull(store, connector);
      expect(failed).toMatchObject({ status: 'failed', rowsSent: 6 });
      expect(String(failed!.error)).toContain('refused by the state store');
      const ref = { connectorId: name, stream: 'people' };
      expect((await loadWatermark(store.db, ref))?.key).toEqual(['6']);
      const ids = async () => (await readResources(store.db, connector.tenant, 'contacts')).map((r) => r.id);
      expect(await ids()).toEqual(['1', '2', '3', '4', '5', '6']);
      const deliveredIds = async () => (await store.db.selectFrom('delivered').select('external_id').where('connector_id', '=', name).execute())
        .map((r) => Number(r.external_id)).sort((a, b) => a - b);
      expect(await deliveredIds()).toEqual([1, 2, 3, 4, 5, 6]);

      await sql`drop trigger refuse_8 on delivered`.execute(store.db);
      const [again] = await lab.pull(store, connector);
      expect(again).toMatchObject({ status: 'succeeded', rowsRead: 6, rowsSent: 6, rowsUnchanged: 0 });
      expect(await ids()).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12']);
      expect(await deliveredIds()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
      expect(await readResources(store.db, connector.tenant, 'contacts')).toEqual(
        Array.from({ length: 12 }, (_, i) => ({ id: String(i + 1), first_name: `n${i + 1}` })));
    });
  }

  for (const where of ['server PostgreSQL', 'embedded PGlite'] as const) {
    test(`${where}: a guessed page whose rows went in as new but whose delivery records did not: its new rows are undone too`, async ({ lab }) => {
      const store = where === 'server PostgreSQL' ? await lab.store() : await lab.embeddedStore();
      const s = await peopleStream(lab, store);
      expect(await s.deliver([page({ 1: 'Ann', 2: 'Bob' }, 10)])).toEqual([{ sent: 2, deleted: 0, unchanged: 0 }]);
      // The store lost record 1's row (no command does; the page's plain INSERT into resources then succeeds).
      await store.db.deleteFrom('resources').where('tenant_id', '=', s.connector.tenant).where('external_id', '=', '1').execute();
      expect(await s.deliver([page({ 3: 'Cy' }, 11), page({ 1: 'Ann', 4: 'Di' }, 10), page({ 5: 'Eve' }, 12)])).toEqual([
        { sent: 1, deleted: 0, unchanged: 0 }, { sent: 1, deleted: 0, unchanged: 1 }, { sent: 1, deleted: 0, unchanged: 0 },
      ]);
      // As a page looked up first: 1 unchanged (not written), 4 written once.
      expect(await s.stored()).toEqual({ 2: 'Bob', 3: 'Cy', 4: 'Di', 5: 'Eve' });
      expect(await s.delivered()).toEqual({ 1: '10', 2: '10', 3: '11', 4: '10', 5: '12' });
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from resources where tenant_id = ${s.connector.tenant}`.execute(store.db);
      expect(rows[0]!.n).toBe(4);
    });
  }

  test('server PostgreSQL: a guessed page waits for a concurrent delivery record that rolls back, then writes its records as new', async ({ lab }) => {
    const store = await lab.store();
    const s = await peopleStream(lab, store);
    const concurrent = s.concurrentWrite('people', '5', { id: '5', first_name: 'Never' }, 30, 'rolls back');
    const outcomes = await s.deliverPast([page({ 1: 'Ann' }, 10), page({ 4: 'Di', 5: 'Eve' }, 11)], concurrent);
    await expect(concurrent.done).rejects.toThrow('rolled back');
    expect(outcomes).toEqual([{ sent: 1, deleted: 0, unchanged: 0 }, { sent: 2, deleted: 0, unchanged: 0 }]);
    expect(await s.stored()).toEqual({ 1: 'Ann', 4: 'Di', 5: 'Eve' });
    expect(await s.delivered()).toEqual({ 1: '10', 4: '11', 5: '11' });
  });

  test('server PostgreSQL: a concurrent newer delete of a guessed page\'s record commits while it waits: the record stays deleted', async ({ lab }) => {
    const store = await lab.store();
    const s = await peopleStream(lab, store);
    const outcomes = await s.deliverPast([page({ 1: 'Ann' }, 10), page({ 4: 'Di', 5: 'Eve' }, 11)], s.concurrentWrite('people', '5', null, 30));
    expect(outcomes).toEqual([{ sent: 1, deleted: 0, unchanged: 0 }, { sent: 1, deleted: 0, unchanged: 1 }]);
    expect(await s.stored()).toEqual({ 1: 'Ann', 4: 'Di' });
    expect(await s.delivered()).toEqual({ 1: '10', 4: '11', 5: '30 deleted' });
    const five = await store.db.selectFrom('resources').select(['deleted', 'version']).where('tenant_id', '=', s.connector.tenant).where('external_id', '=', '5').executeTakeFirst();
    expect(five).toEqual({ deleted: true, version: at(30) });
  });

  test('server PostgreSQL: another stream writing a guessed page\'s record into the same schema, uncommitted: merged, and counted as new', async ({ lab }) => {
    const store = await lab.store();
    const s = await peopleStream(lab, store);
    const outcomes = await s.deliverPast([page({ 1: 'Ann' }, 10), page({ 4: 'Di', 5: 'Eve' }, 11), page({ 6: 'Fay' }, 12)], s.concurrentWrite('mail', '5', { id: '5', email: 'e@x.io' }, 59));
    expect(outcomes).toEqual([{ sent: 1, deleted: 0, unchanged: 0 }, { sent: 2, deleted: 0, unchanged: 0 }, { sent: 1, deleted: 0, unchanged: 0 }]);
    expect(await readResources(store.db, s.connector.tenant, 'contacts')).toEqual([
      { id: '1', first_name: 'Ann' }, { id: '4', first_name: 'Di' }, { id: '5', first_name: 'Eve', email: 'e@x.io' }, { id: '6', first_name: 'Fay' },
    ]);
    expect(await s.delivered()).toEqual({ 1: '10', 4: '11', 5: '11', 6: '12' });
  });
});
