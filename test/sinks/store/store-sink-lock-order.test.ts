/**
 * Concurrent writers of the built-in store lock rows in one order (found in review: pages
 * over the same ids in opposite orders deadlocked, and PostgreSQL aborted one page's
 * checkpoint transaction, 4 rounds in 5).
 */
import { StoreSink } from '../../../src/sinks/store/store-sink.ts';
import type { SinkPage } from '../../../src/sinks/sink.ts';
import { describe, expect, test } from '../../fixture.ts';

const upsert = (externalId: string, record: object, version: string) => ({ externalId, json: JSON.stringify(record), version });

describe('store sink under concurrent writers (server PostgreSQL)', () => {
  // A backfill does not hold the stream (STREAM_HOLDING_KINDS), so it commits pages while a
  // pull does; a backfill page runs in key order, a pull page in cursor order. Rows locked in
  // one order (store/lock-order.ts) make the second page wait for the first, not deadlock.
  test('two pages over the same ids in opposite orders both commit', async ({ lab }) => {
    const store = await lab.store();
    const sink = new StoreSink();
    const ids = Array.from({ length: 4000 }, (_, i) => `id${i}`);
    const pageOf = (order: string[], v: string, deleteEvery: number): SinkPage => ({
      tenant: 'deadlock', schema: 'contacts', writer: 'test/stream',
      upserts: order.filter((_, i) => i % deleteEvery !== 0).map((id) => upsert(id, { id, v }, v)),
      deletes: order.filter((_, i) => i % deleteEvery === 0).map((id) => ({ externalId: id, version: v })),
    });
    await store.db.transaction().execute((trx) => sink.write(trx, pageOf(ids, 'v0', Number.MAX_SAFE_INTEGER)));
    const errors: string[] = [];
    for (let round = 1; round <= 5; round++) {
      const a = store.db.transaction().execute((trx) => sink.write(trx, pageOf(ids, `v${round}a`, 7)));
      const b = store.db.transaction().execute((trx) => sink.write(trx, pageOf([...ids].reverse(), `v${round}b`, 5)));
      for (const r of await Promise.allSettled([a, b])) if (r.status === 'rejected') errors.push(String(r.reason));
    }
    expect(errors).toEqual([]);
  });
});
