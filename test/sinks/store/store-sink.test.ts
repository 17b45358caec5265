/** The built-in store: Reach's merge semantics, the version guard, and exactly-once checkpoints. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { StoreSink } from '../../../src/sinks/store/store-sink.ts';
import { deliverPage, type SinkPage } from '../../../src/sinks/sink.ts';
import type { Store } from '../../../src/store/open-store.ts';
import { freshStore } from '../../helpers/store.ts';
import { readResources } from '../../helpers/resources.ts';

describe('store sink', () => {
  let store: Store;
  let sink: StoreSink;
  beforeAll(async () => {
    store = await freshStore('rp_store_sink');
    sink = new StoreSink(store.db);
  });
  afterAll(async () => {
    await store?.close();
  });

  const page = (tenant: string, upserts: [string, Record<string, unknown>, string][], deletes: [string, string][] = []): SinkPage => ({
    tenant, schema: 'contacts',
    upserts: upserts.map(([externalId, record, version]) => ({ externalId, json: JSON.stringify(record), version })),
    deletes: deletes.map(([externalId, version]) => ({ externalId, version })),
  });
  const noCheckpoint = async () => {};

  it('merges like Reach: fields left out are kept, a field sent as null is deleted', async () => {
    await deliverPage(sink, page('m', [['1', { id: '1', email: 'a@x.io', phone: '+1555', city: null }, 'v1']]), noCheckpoint);
    await deliverPage(sink, page('m', [['1', { id: '1', phone: null, first_name: 'Ann' }, 'v2']]), noCheckpoint);
    expect(await readResources(store.db, 'm', 'contacts')).toEqual([{ id: '1', email: 'a@x.io', first_name: 'Ann' }]);
  });

  it('never lets an older version overwrite a newer one, for upserts and deletes', async () => {
    await deliverPage(sink, page('g', [['1', { id: '1', first_name: 'new' }, '2024-01-02T00:00:00.000000Z']]), noCheckpoint);
    const stale = await deliverPage(sink, page('g', [['1', { id: '1', first_name: 'old' }, '2024-01-01T00:00:00.000000Z']],
      [['1', '2024-01-01T12:00:00.000000Z']]), noCheckpoint);
    expect(stale.staleSkipped).toBe(2);
    expect(await readResources(store.db, 'g', 'contacts')).toEqual([{ id: '1', first_name: 'new' }]);
    // A newer delete wins, leaves a tombstone, and an older upsert cannot resurrect it.
    await deliverPage(sink, page('g', [], [['1', '2024-01-03T00:00:00.000000Z']]), noCheckpoint);
    await deliverPage(sink, page('g', [['1', { id: '1', first_name: 'older' }, '2024-01-02T12:00:00.000000Z']]), noCheckpoint);
    expect(await readResources(store.db, 'g', 'contacts')).toEqual([]);
    // A newer upsert after a delete starts a fresh record, not a merge into the old one.
    await deliverPage(sink, page('g', [['1', { id: '1', email: 'back@x.io' }, '2024-01-04T00:00:00.000000Z']]), noCheckpoint);
    expect(await readResources(store.db, 'g', 'contacts')).toEqual([{ id: '1', email: 'back@x.io' }]);
  });

  it('commits the page and its checkpoint together, or neither', async () => {
    await store.db.schema.createTable('test_checkpoints').ifNotExists().addColumn('page', 'text').execute();
    const failing = deliverPage(sink, page('x', [['1', { id: '1' }, 'v1']]), async (trx) => {
      await sql`insert into test_checkpoints values ('p1')`.execute(trx);
      throw new Error('checkpoint failed');
    });
    await expect(failing).rejects.toThrow('checkpoint failed');
    expect(await readResources(store.db, 'x', 'contacts')).toEqual([]);
    expect((await sql`select * from test_checkpoints`.execute(store.db)).rows).toEqual([]);
  });
});
