/** The built-in store: Reach's merge semantics, the version guard, and writes that commit with their transaction. */
import { StoreSink } from '../../../src/sinks/store/store-sink.ts';
import type { SinkPage } from '../../../src/sinks/sink.ts';
import type { Store } from '../../../src/store/open-store.ts';
import { readResources } from '../../helpers/resources.ts';
import { describe, expect, test } from '../../fixture.ts';

describe('store sink', () => {
  const sink = new StoreSink();

  const page = (tenant: string, upserts: [string, Record<string, unknown>, string][], deletes: [string, string][] = []): SinkPage => ({
    tenant, schema: 'contacts',
    upserts: upserts.map(([externalId, record, version]) => ({ externalId, json: JSON.stringify(record), version })),
    deletes: deletes.map(([externalId, version]) => ({ externalId, version })),
  });
  const writer = (store: Store) => (p: SinkPage) => store.db.transaction().execute((trx) => sink.write(trx, p));

  test('merges like Reach: fields left out are kept, a field sent as null is deleted', async ({ lab }) => {
    const store = await lab.store();
    const write = writer(store);
    await write(page('m', [['1', { id: '1', email: 'a@x.io', phone: '+1555', city: null }, 'v1']]));
    await write(page('m', [['1', { id: '1', phone: null, first_name: 'Ann' }, 'v2']]));
    expect(await readResources(store.db, 'm', 'contacts')).toEqual([{ id: '1', email: 'a@x.io', first_name: 'Ann' }]);
  });

  test('never lets an older version overwrite a newer one, for upserts and deletes', async ({ lab }) => {
    const store = await lab.store();
    const write = writer(store);
    await write(page('g', [['1', { id: '1', first_name: 'new' }, '2024-01-02T00:00:00.000000Z']]));
    const skipped = await write(page('g', [['1', { id: '1', first_name: 'old' }, '2024-01-01T00:00:00.000000Z']],
      [['1', '2024-01-01T12:00:00.000000Z']]));
    expect(skipped).toBe(2);
    expect(await readResources(store.db, 'g', 'contacts')).toEqual([{ id: '1', first_name: 'new' }]);
    // A newer delete wins, leaves a tombstone, and an older upsert cannot resurrect it.
    await write(page('g', [], [['1', '2024-01-03T00:00:00.000000Z']]));
    await write(page('g', [['1', { id: '1', first_name: 'older' }, '2024-01-02T12:00:00.000000Z']]));
    expect(await readResources(store.db, 'g', 'contacts')).toEqual([]);
    // A newer upsert after a delete starts a fresh record, not a merge into the old one.
    await write(page('g', [['1', { id: '1', email: 'back@x.io' }, '2024-01-04T00:00:00.000000Z']]));
    expect(await readResources(store.db, 'g', 'contacts')).toEqual([{ id: '1', email: 'back@x.io' }]);
  });

  test('writes nothing when the transaction it wrote in rolls back', async ({ lab }) => {
    const store = await lab.store();
    const failing = store.db.transaction().execute(async (trx) => {
      await sink.write(trx, page('x', [['1', { id: '1' }, 'v1']]));
      throw new Error('checkpoint failed');
    });
    await expect(failing).rejects.toThrow('checkpoint failed');
    expect(await readResources(store.db, 'x', 'contacts')).toEqual([]);
  });
});
