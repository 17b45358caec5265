/**
 * A page the stream never delivered goes into the store as new rows (store/new-rows.ts); each
 * way such a page's records can exist after all must end as the upsert would have ended it:
 * another stream's record (fields merged, not replaced), a concurrent writer's insert of the
 * same ids (the newest version kept, whichever commits first), and delivery records a
 * concurrent page wrote (their newer version kept). On the server PostgreSQL and on PGlite.
 */
import type { Kysely } from 'kysely';
import { StoreSink } from '../../../src/sinks/store/store-sink.ts';
import type { SinkPage } from '../../../src/sinks/sink.ts';
import { recordDelivered } from '../../../src/store/delivery-state.ts';
import type { StoreSchema } from '../../../src/store/schema.ts';
import { readResources } from '../../helpers/resources.ts';
import { describe, expect, test } from '../../fixture.ts';
import { heldTransaction } from '../../helpers/held-transaction.ts';
import { waitForLockWaits } from '../../helpers/waits.ts';

const IDS = Array.from({ length: 300 }, (_, i) => `id${String(i).padStart(3, '0')}`);

/** A page of every id in IDS (a field `v` and the version given), written as the stream's first. */
function newPage(tenant: string, writer: string, field: string, value: string, version: string, ids = IDS): SinkPage {
  return {
    tenant, schema: 'contacts', writer, deletes: [], undelivered: true,
    upserts: ids.map((id) => ({ externalId: id, json: JSON.stringify({ id, [field]: value }), version })),
  };
}

const write = (db: Kysely<StoreSchema>, sink: StoreSink, page: SinkPage) => db.transaction().execute((trx) => sink.write(trx, page));

describe('store sink: pages of records the stream never delivered', () => {
  for (const where of ['server PostgreSQL', 'embedded PGlite'] as const) {
    test(`${where}: records another stream stored are merged, and the stream's later pages too`, async ({ lab }) => {
      const db = (where === 'server PostgreSQL' ? await lab.store() : await lab.embeddedStore()).db;
      await write(db, new StoreSink(), newPage('t', 'c/crm', 'name', 'Ann', '2024-01-02'));
      const sink = new StoreSink();
      // Half of the first page and all of the second exist: both must merge.
      expect(await write(db, sink, newPage('t', 'c/mail', 'email', 'a@x.io', '2024-01-01', [...IDS.slice(150), 'new1']))).toBe(0);
      expect(await write(db, sink, newPage('t', 'c/mail', 'email', 'b@x.io', '2024-01-03', IDS.slice(0, 150)))).toBe(0);
      const stored = await readResources(db, 't', 'contacts');
      expect(stored).toHaveLength(IDS.length + 1);
      expect(stored.filter((r) => r.id !== 'new1')).toEqual(IDS.map((id, i) => ({ id, name: 'Ann', email: i < 150 ? 'b@x.io' : 'a@x.io' })));
      expect(stored.find((r) => r.id === 'new1')).toEqual({ id: 'new1', email: 'a@x.io' });
      // Each stream's own guard still holds on merged records.
      expect(await write(db, sink, newPage('t', 'c/crm', 'name', 'Old', '2024-01-01'))).toBe(IDS.length);
    });

    test(`${where}: delivery records a concurrent page wrote keep their newer version`, async ({ lab }) => {
      const db = (where === 'server PostgreSQL' ? await lab.store() : await lab.embeddedStore()).db;
      const ref = { connectorId: 'c', stream: 's' };
      const entries = (hash: string, version: string) => IDS.map((externalId) => ({ externalId, contentHash: hash, version, deleted: false }));
      await db.transaction().execute((trx) => recordDelivered(trx, ref, entries('new', '2024-01-02'), true));
      // Decided before those committed: believed new, older.
      await db.transaction().execute((trx) => recordDelivered(trx, ref, entries('old', '2024-01-01'), true));
      const rows = await db.selectFrom('delivered').select(['content_hash', 'version']).where('connector_id', '=', 'c').execute();
      expect(rows).toHaveLength(IDS.length);
      expect(new Set(rows.map((r) => `${r.content_hash}@${r.version}`))).toEqual(new Set(['new@2024-01-02']));
    });
  }

  // Two writers (a backfill chunk and a pull, or two chunks) each believe the same records new:
  // the second INSERT waits for the first's commit, then fails on the key and merges.
  for (const order of ['older second', 'newer second'] as const) {
    test(`server PostgreSQL: two writers insert the same new records at once (${order}): the newest version stays`, async ({ lab }) => {
      const store = await lab.store();
      const [first, second] = order === 'older second' ? ['2024-01-02', '2024-01-01'] : ['2024-01-01', '2024-01-02'];
      const one = heldTransaction(store.db, (trx) => new StoreSink().write(trx, newPage('race', 'c/s', 'v', first, first)));
      await one.ready;
      const two = write(store.db, new StoreSink(), newPage('race', 'c/s', 'v', second, second));
      // The second writer waits on the first one's uncommitted rows before the first commits.
      await waitForLockWaits(store.db);
      one.release();
      await one.done;
      expect(await two).toBe(order === 'older second' ? IDS.length : 0);
      const newest = order === 'older second' ? first : second;
      expect(await readResources(store.db, 'race', 'contacts')).toEqual(IDS.map((id) => ({ id, v: newest })));
    });
  }
});
