/**
 * Review of page-delivery.ts `NewRecordsHint` end to end, from a MariaDB partner: backfills
 * in parallel chunks with small pages, so nearly every page of a first backfill is guessed
 * new, and every page of a later one is guessed (after a first page of new records) and
 * proved wrong at commit. What a user checks after each backfill: the store equals the view
 * (soft-deleted rows absent), and the chunk runs' counts add up to what the reads say:
 *
 * 1. first backfill: every live row sent, every soft-deleted row a tombstone (unchanged);
 * 2. after the partner changed 23 rows and soft-deleted 17 (and 5 new rows): those sent and
 *    deleted, the rest unchanged;
 * 3. after `reset --forget-delivered`: every live row sent again, over the records stored;
 * 4. then a first backfill beside pulls while the partner keeps changing and deleting rows:
 *    after a last pull the store equals the view.
 * On the server PostgreSQL store and on PGlite.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startBackfill } from '../../src/backfill/run-backfill.ts';
import { pullConnector } from '../../src/engine/pull-connector.ts';
import { resetStream } from '../../src/engine/reset-stream.ts';
import type { Store } from '../../src/store/open-store.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test } from '../fixture.ts';

for (const where of ['server PostgreSQL', 'embedded PGlite'] as const) {
  describe(`guessed pages in backfills from MariaDB (${where})`, () => {
    test('each backfill counts what the reads say, and the store equals the view, also beside pulls', async ({ lab }) => {
      const partner = await lab.partner('mysql');
      const store: Store = where === 'server PostgreSQL' ? await lab.store() : await lab.embeddedStore();
      const name = lab.unique(`gb${where[0]}`);
      await lab.view(partner, name, 'id bigint primary key, name varchar(40) not null, deleted_at datetime(6) null, updated_at datetime(6) not null',
        `select seq, concat('n', seq), if(seq % 9 = 0, utc_timestamp(6), null),
           utc_timestamp(6) - interval 3600 second + interval (seq * 5000) microsecond from seq_1_to_300`);
      await partner.exec(`create index t_${name}_c on t_${name} (updated_at, id)`);
      const connector = await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0\nmax_connections: 4', body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 7, deleted: { column: deleted_at }, fields: { id: id, first_name: name } }
` });
      const ref = { connectorId: name, stream: 'people' };

      const view = async () => (await partner.query<{ id: string; name: string; deleted: number | string }>(
        `select cast(id as char) as id, name, deleted_at is not null as deleted from v_${name} order by v_${name}.id`));
      const expectStoreEqualsView = async () => {
        const rows = await view();
        const expected = rows.filter((r) => Number(r.deleted) === 0).map((r) => ({ id: r.id, first_name: r.name }));
        const stored = await readResources(store.db, connector.tenant, 'contacts');
        expect({ count: stored.length, missing: expected.filter((e) => !stored.some((s) => s.id === e.id && s.first_name === e.first_name)).slice(0, 5) })
          .toEqual({ count: expected.length, missing: [] });
        expect(stored).toEqual(expected);
        return rows;
      };
      let seen = new Set<string>();
      /** One backfill to its end (no pulls beside): the counts of its chunk runs, added up. */
      const backfill = async () => {
        const handle = await startBackfill({ store: store.db, log: testLog }, { connector: name, stream: 'people', chunks: 3, checkpointRows: 7 });
        expect(await handle.done).toMatchObject({ state: 'succeeded' });
        const runs = await store.db.selectFrom('runs').select(['id', 'rows_read', 'rows_sent', 'rows_unchanged', 'rows_deleted', 'rows_rejected'])
          .where('connector_id', '=', name).where('kind', '=', 'backfill').execute();
        const fresh = runs.filter((r) => !seen.has(String(r.id)));
        seen = new Set([...seen, ...runs.map((r) => String(r.id))]);
        const sum = (k: 'rows_read' | 'rows_sent' | 'rows_unchanged' | 'rows_deleted' | 'rows_rejected') => fresh.reduce((n, r) => n + Number(r[k]), 0);
        return { read: sum('rows_read'), sent: sum('rows_sent'), unchanged: sum('rows_unchanged'), deleted: sum('rows_deleted'), rejected: sum('rows_rejected') };
      };

      // 1. First backfill: 300 rows, 33 soft-deleted (tombstones of records never delivered).
      expect(await backfill()).toEqual({ read: 300, sent: 267, unchanged: 33, deleted: 0, rejected: 0 });
      await expectStoreEqualsView();

      // 2. Changes: 23 live rows renamed, 17 live rows soft-deleted, 5 new rows.
      await partner.exec(
        `update t_${name} set name = concat('r', id), updated_at = utc_timestamp(6) - interval 10 second + interval id microsecond where id % 13 = 1 and deleted_at is null`,
        `update t_${name} set deleted_at = utc_timestamp(6), updated_at = utc_timestamp(6) - interval 10 second + interval id microsecond where id % 17 = 3 and deleted_at is null`,
        `insert into t_${name} select seq, concat('x', seq), null, utc_timestamp(6) - interval 5 second + interval seq microsecond from seq_301_to_305`,
      );
      const rows = await view();
      const gone = rows.filter((r) => Number(r.id) % 17 === 3 && Number(r.id) % 9 !== 0).length;
      const counts2 = await backfill();
      // A row renamed and then soft-deleted counts once, as a delete.
      const renamedLive = rows.filter((r) => r.name.startsWith('r') && Number(r.deleted) === 0).length;
      expect(counts2).toEqual({ read: 305, sent: renamedLive + 5, deleted: gone, unchanged: 305 - renamedLive - 5 - gone, rejected: 0 });
      await expectStoreEqualsView();

      // 3. Everything forgotten: every live row is sent again, over the records stored.
      await resetStream(store.db, ref, { mode: 'forget-delivered' }, testLog);
      const live = rows.filter((r) => Number(r.deleted) === 0).length;
      expect(await backfill()).toEqual({ read: 305, sent: live, unchanged: 305 - live, deleted: 0, rejected: 0 });
      await expectStoreEqualsView();

      // 4. Forgotten again, and a first backfill beside pulls while the partner changes rows.
      await resetStream(store.db, ref, { mode: 'forget-delivered' }, testLog);
      const handle = await startBackfill({ store: store.db, log: testLog }, { connector: name, stream: 'people', chunks: 3, checkpointRows: 7, maxRowsPerSecond: 200 });
      const errors: string[] = [];
      for (let round = 0; round < 8; round++) {
        await partner.exec(
          `update t_${name} set name = concat('c${round}-', id), updated_at = utc_timestamp(6) where id % 11 = ${round}`,
          `update t_${name} set deleted_at = if(deleted_at is null, utc_timestamp(6), null), updated_at = utc_timestamp(6) where id % 29 = ${round} and id % 2 = 1`,
        );
        for (const s of await pullConnector({ store: store.db, connector, log: testLog })) {
          if (s.error && !/RP_STREAM_BUSY/.test(String(s.error))) errors.push(String(s.error));
        }
        await sleep(40);
      }
      expect(await handle.done).toMatchObject({ state: 'succeeded' });
      expect(errors).toEqual([]);
      expect((await lab.pull(store, connector)).map((s) => s.error)).toEqual([undefined]);
      await expectStoreEqualsView();
    }, 240_000);
  });
}
