/**
 * Into the built-in store, a page after one whose records were all new is decided without
 * looking its delivery records up (page-delivery.ts `NewRecordsHint`): its commit proves the
 * records new. When some were delivered after all (by an earlier run, or by a concurrent
 * page that commits while this one waits), the page is decided again against them: the same
 * counts and the same store as if it had looked first, and no record goes back to an older
 * version. On the server PostgreSQL and on PGlite.
 */
import { sql } from 'kysely';
import { DeliveryPipeline } from '../../src/engine/page-delivery.ts';
import { judgePage, type PageOutcome } from '../../src/engine/page-judgement.ts';
import { withPlannedStream } from '../../src/engine/planned-stream.ts';
import { StoreSink } from '../../src/sinks/store/store-sink.ts';
import type { Position, SourceRow } from '../../src/interfaces.ts';
import { recordDelivered } from '../../src/store/delivery-state.ts';
import type { Store } from '../../src/store/open-store.ts';
import { startRun, ZERO_COUNTS } from '../../src/store/run-records.ts';
import { heldTransaction } from '../helpers/held-transaction.ts';
import { readResources } from '../helpers/resources.ts';
import { waitForLockWaits } from '../helpers/waits.ts';
import { describe, expect, test, type Lab } from '../fixture.ts';

/** A page as the source returns it: rows `{ id, name }` read at `second`. */
function page(names: Record<string, string>, second: number) {
  const rows: SourceRow[] = Object.entries(names).map(([id, name]) => ({ id, name }));
  const positions: Position[] = rows.map((r) => ({ cursor: `2024-05-01T00:00:${String(second).padStart(2, '0')}.000000Z`, key: [String(r.id)] }));
  return { rows, positions };
}
type Page = ReturnType<typeof page>;

/** What a test needs: a stream `people` of a connector on the store, and a way to deliver pages through one pipeline. */
async function peopleStream(lab: Lab, store: Store) {
  const partner = await lab.partner('postgres');
  const id = lab.unique('proved');
  const { view } = await lab.view(partner, id, 'id bigint primary key, name text, updated_at timestamptz not null');
  const connector = await lab.connector(store, partner, { id, source: 'settle_seconds: 0', body: `streams:
  - { name: people, view: ${view}, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: id, first_name: name } }
` });
  const ref = { connectorId: connector.id, stream: 'people' };
  /** Delivers pages in one run; each page's counts as committed, in order. `beforeLast` runs once the last page is sent, before it commits. */
  const deliver = async (pages: Page[], beforeLast: () => Promise<void> = async () => {}) => {
    const outcomes: PageOutcome[] = [];
    const run = await startRun(store.db, ref, 'pull', undefined);
    await withPlannedStream(store.db, connector, 'people', undefined, async (plan) => {
      const pipeline = new DeliveryPipeline({ plan, store: store.db, sink: new StoreSink(), run, openRejections: { value: false } });
      for (const [i, p] of pages.entries()) {
        await pipeline.push(judgePage(plan, run.id, p.rows, p.positions), async () => {}, (o) => { outcomes[i] = o; });
        if (i === pages.length - 1) await beforeLast();
      }
      await pipeline.drain();
    });
    await run.finish('succeeded', ZERO_COUNTS);
    return outcomes.map((o) => ({ sent: o.sent, unchanged: o.unchanged }));
  };
  const stored = async () => Object.fromEntries((await readResources(store.db, connector.tenant, 'contacts')).map((r) => [r.id, r.first_name]));
  const versions = async () => Object.fromEntries((await store.db.selectFrom('delivered').select(['external_id', 'version'])
    .where('connector_id', '=', ref.connectorId).execute()).map((r) => [r.external_id, r.version.slice(17, 19)]));
  return { ref, tenant: connector.tenant, deliver, stored, versions };
}

describe('store pages proved new at commit', () => {
  for (const where of ['server PostgreSQL', 'embedded PGlite'] as const) {
    test(`${where}: a page after new ones that holds delivered records counts and stores as if looked up first`, async ({ lab }) => {
      const store = where === 'server PostgreSQL' ? await lab.store() : await lab.embeddedStore();
      const s = await peopleStream(lab, store);
      expect(await s.deliver([page({ 1: 'Ann', 2: 'Bob' }, 10)])).toEqual([{ sent: 2, unchanged: 0 }]);

      expect(await s.deliver([
        page({ 3: 'Cy', 4: 'Di' }, 11), // looked up: none delivered, so the next page is taken for new
        page({ 1: 'Ann', 5: 'Eve' }, 10), // taken for new; 1 was delivered with this content and version: unchanged
        page({ 2: 'Old' }, 9), // 2 was delivered at a newer version: stale
        page({ 6: 'Fay' }, 12),
        page({ 7: 'Gus', 8: 'Hal' }, 13), // the page before was new: taken for new, and new
        page({ 2: 'Older', 9: 'Ida' }, 8), // taken for new; 2 was not: stale
      ])).toEqual([
        { sent: 2, unchanged: 0 }, { sent: 1, unchanged: 1 }, { sent: 0, unchanged: 1 },
        { sent: 1, unchanged: 0 }, { sent: 2, unchanged: 0 }, { sent: 1, unchanged: 1 },
      ]);
      expect(await s.stored()).toEqual({ 1: 'Ann', 2: 'Bob', 3: 'Cy', 4: 'Di', 5: 'Eve', 6: 'Fay', 7: 'Gus', 8: 'Hal', 9: 'Ida' });
      expect(await s.versions()).toEqual({ 1: '10', 2: '10', 3: '11', 4: '11', 5: '10', 6: '12', 7: '13', 8: '13', 9: '08' });
    });
  }

  test('server PostgreSQL: a page taken for new waits for a concurrent page of its records, then keeps that page\'s newer version', async ({ lab }) => {
    const store = await lab.store();
    const s = await peopleStream(lab, store);
    // A concurrent page (a pull beside a backfill) wrote record 5 at a newer version and has not committed.
    const concurrent = heldTransaction(store.db, async (trx) => {
      await new StoreSink().write(trx, { tenant: s.tenant, schema: 'contacts', writer: `${s.ref.connectorId}/people`, deletes: [], upserts: [{ externalId: '5', json: '{"id":"5","first_name":"New"}', version: '2024-05-01T00:00:30.000000Z' }] });
      await recordDelivered(trx, s.ref, [{ externalId: '5', contentHash: 'h', version: '2024-05-01T00:00:30.000000Z', deleted: false }]);
    });
    await concurrent.ready;
    const outcomes = await s.deliver([page({ 1: 'Ann' }, 10), page({ 4: 'Di', 5: 'Eve' }, 11)], async () => {
      // The second page (taken for new) waits on record 5 at its commit; then the concurrent page commits.
      await waitForLockWaits(store.db);
      concurrent.release();
      await concurrent.done;
    });
    expect(outcomes).toEqual([{ sent: 1, unchanged: 0 }, { sent: 1, unchanged: 1 }]);
    expect(await s.stored()).toEqual({ 1: 'Ann', 4: 'Di', 5: 'New' });
    expect(await s.versions()).toEqual({ 1: '10', 4: '11', 5: '30' });
    // Nothing of the undone attempt is left behind.
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from resources`.execute(store.db);
    expect(rows[0]!.n).toBe(3);
  });
});
