/**
 * Quarantine entries are written whatever text the row held (a NUL or a lone surrogate in its
 * key or cursor, as U+FFFD) and in one lock order beside other writers (found in review: the
 * insert failed, or deadlocked a pull beside a backfill); verify's repair locks the delivery
 * records it changes in the same order.
 */
import { sql } from 'kysely';
import { forgetDeliveredContent, listRejections, loadDelivered, quarantine, recordDelivered, resolveQuarantined, type Rejection } from '../../src/store/delivery-state.ts';
import { describe, expect, test } from '../fixture.ts';

describe('quarantine', () => {
  const rejection = (key: string, cursor: string | null = '5'): Rejection => ({
    runId: null as unknown as string, tenant: 't', externalId: null, sourceKey: [key], sourceCursor: cursor,
    fields: ['id'], reason: 'contains a lone UTF-16 surrogate',
  });

  // A SQL Server nvarchar key (or a cursor) can hold a lone surrogate; judgeRow quarantines the
  // row with that key, and quarantine() writes it through jsonb, which refuses `\udc00`: the
  // checkpoint transaction fails at every commit, the stream is wedged.
  test('a lone surrogate in a source key is quarantined, not a failed commit', async ({ lab }) => {
    const store = await lab.store();
    const ref = { connectorId: lab.unique('qk'), stream: 's' };
    await quarantine(store.db, ref, [rejection('a-\udc00')]);
    expect(await listRejections(store.db, ref.connectorId)).toHaveLength(1);
  });

  test('a lone surrogate in a text cursor is quarantined, not a failed commit', async ({ lab }) => {
    const store = await lab.store();
    const ref = { connectorId: lab.unique('qc'), stream: 's' };
    await quarantine(store.db, ref, [rejection('k', 'c-\ud800')]);
    expect(await listRejections(store.db, ref.connectorId)).toHaveLength(1);
  });

  // A pull page (cursor order) and a backfill page (key order) rejecting the same rows update
  // their open entries in page order: opposite orders deadlock, as the sink's writes did.
  test('two pages quarantining the same rows in opposite orders both commit', async ({ lab }) => {
    const store = await lab.store();
    const ref = { connectorId: lab.unique('qd'), stream: 's' };
    const keys = Array.from({ length: 3000 }, (_, i) => `k${i}`);
    await quarantine(store.db, ref, keys.map((k) => rejection(k)));
    const errors: string[] = [];
    for (let round = 1; round <= 5; round++) {
      const a = store.db.transaction().execute((trx) => quarantine(trx, ref, keys.map((k) => rejection(k, String(round)))));
      const b = store.db.transaction().execute((trx) => quarantine(trx, ref, [...keys].reverse().map((k) => rejection(k, String(round)))));
      for (const r of await Promise.allSettled([a, b])) if (r.status === 'rejected') errors.push(String(r.reason));
    }
    expect(errors).toEqual([]);
  });
  // A pull page settling entries (resolveQuarantined: an UPDATE ... FROM the page's reads, in
  // the join's order) beside a backfill page re-quarantining the same rows in the other order.
  test('a page resolving entries beside a page quarantining them in the other order: both commit', async ({ lab }) => {
    const store = await lab.store();
    const ref = { connectorId: lab.unique('qr'), stream: 's' };
    const keys = Array.from({ length: 3000 }, (_, i) => `k${i}`);
    const errors: string[] = [];
    for (let round = 1; round <= 5; round++) {
      await quarantine(store.db, ref, keys.map((k) => rejection(k, '1')));
      const a = store.db.transaction().execute((trx) => resolveQuarantined(trx, ref, 'timestamp' as never, keys.map((k) => ({ key: [k], cursor: '9' }))));
      const b = store.db.transaction().execute((trx) => quarantine(trx, ref, [...keys].reverse().map((k) => rejection(k, '2'))));
      for (const r of await Promise.allSettled([a, b])) if (r.status === 'rejected') errors.push(String(r.reason));
    }
    expect(errors).toEqual([]);
  });

  // verify's repair forgets the content of the records it found stale while a backfill chunk may
  // be recording the same records (found left open in review: its UPDATE locked rows in the
  // table's physical order).
  test('verify forgetting delivered content beside a page recording the same records: both commit', async ({ lab }) => {
    const store = await lab.store();
    const ref = { connectorId: lab.unique('fc'), stream: 's' };
    const ids = Array.from({ length: 3000 }, (_, i) => `k${String(i).padStart(4, '0')}`);
    const entry = (id: string, round: number) => ({ externalId: id, contentHash: `h${round}`, version: `v${round}`, deleted: false });
    // Stored in the reverse of lock order, as a page in cursor order may leave them.
    await sql`insert into delivered (connector_id, stream, external_id, content_hash, version, deleted)
      select ${ref.connectorId}, ${ref.stream}, x.id, 'h0', 'v0', false from unnest(${[...ids].reverse()}::text[]) as x(id)`.execute(store.db);
    // Statistics as autovacuum leaves them: the planner then scans the table in its physical order.
    await sql`analyze delivered`.execute(store.db);
    const errors: string[] = [];
    for (let round = 1; round <= 5; round++) {
      const page = store.db.transaction().execute((trx) => recordDelivered(trx, ref, ids.map((id) => entry(id, round))));
      const repair = forgetDeliveredContent(store.db, ref, [...ids].reverse(), 'verify: stale');
      for (const r of await Promise.allSettled([page, repair])) if (r.status === 'rejected') errors.push(String(r.reason));
    }
    expect(errors).toEqual([]);
    expect((await loadDelivered(store.db, ref, ids)).size).toBe(3000);
  });
});
