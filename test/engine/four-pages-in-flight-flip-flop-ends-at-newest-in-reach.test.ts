/**
 * Review of four pages in flight to Reach (page-delivery.ts PAGES_IN_FLIGHT['reach-api'] = 4):
 * a record that flips A -> B -> A -> B (and on, or through a delete) across consecutive pages,
 * all four sent before the first is processed, to a Reach that applies batches out of order
 * (later batches first, or at random), must end at its newest value in Reach and in the
 * delivery records, every page committing in order, with claims on PostgreSQL and on PGlite.
 * Ids are multi-byte, so records waiting on another page's claim are looked up through the
 * Buffer text column (`= any(...)`). And a real pull whose hot rows keep flipping while it
 * reads them again in later pages ends with Reach equal to the view.
 */
import { createSink, reachTarget, storeRuntime } from '../../src/engine/connector-runtime.ts';
import { DeliveryPipeline, PAGES_IN_FLIGHT } from '../../src/engine/page-delivery.ts';
import { judgePage } from '../../src/engine/page-judgement.ts';
import { startRun, ZERO_COUNTS } from '../../src/store/run-records.ts';
import { withPlannedStream } from '../../src/engine/planned-stream.ts';
import { guardedId, unguardId } from '../../src/store/external-id-text.ts';
import type { Position, SourceRow } from '../../src/interfaces.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { describe, expect, test } from '../fixture.ts';

type Row = { id: string; name: string | null; deleted_at?: string | null };

const SCHEDULES: [string, (n: number) => number][] = [
  ['later batches first', (n) => Math.max(0, 600 - 120 * n)],
  ['every other batch late', (n) => (n % 2 === 1 ? 500 : 0)],
  ['at random', () => Math.floor(Math.random() * 400)],
];

describe('four pages in flight to a Reach that applies batches out of order', () => {
  for (const [kind, [label, applyDelayOf]] of [...SCHEDULES.map((s) => ['PostgreSQL', s] as const), ['PGlite', SCHEDULES[0]!] as const]) {
    test(`a record flipping A -> B -> A -> B -> A across four pages, and back to B through a delete, ends at its newest value (${label}; claims on ${kind})`, { timeout: 60_000 }, async ({ lab }) => {
      expect(PAGES_IN_FLIGHT['reach-api']).toBe(4);
      const partner = await lab.partner('postgres');
      const store = kind === 'PGlite' ? await lab.embeddedStore() : await lab.store();
      const api = await lab.reachApi({ applyDelayOf });
      const name = lab.unique('ff');
      const { view } = await lab.view(partner, name, 'id text primary key, name text, deleted_at timestamptz, updated_at timestamptz not null');
      const connector = await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0', reach: api, body: `streams:
  - { name: people, view: ${view}, schema: contacts, primary_key: [id], cursor: updated_at, deleted: { column: deleted_at }, fields: { id: id, first_name: name } }
` });
      const sink = createSink(await reachTarget(connector.config, storeRuntime(store.db)), testLog);
      let second = 0;
      const page = (rows: Row[]) => {
        second++;
        const cursor = `2024-05-01T00:${String(Math.floor(second / 60)).padStart(2, '0')}:${String(second % 60).padStart(2, '0')}.000000Z`;
        const sourceRows: SourceRow[] = rows.map((r) => ({ deleted_at: null, ...r }));
        const positions: Position[] = rows.map((r) => ({ cursor, key: [r.id] }));
        return { rows: sourceRows, positions };
      };
      const deliver = async (pages: Row[][]) => {
        const committed: number[] = [];
        const run = await startRun(store.db, { connectorId: connector.id, stream: 'people' }, 'pull', undefined);
        await withPlannedStream(store.db, connector, 'people', undefined, async (plan) => {
          const pipeline = new DeliveryPipeline({ plan, store: store.db, sink, run, openRejections: { value: false } });
          for (const [i, rows] of pages.entries()) {
            // A record of this page alone: every page posts a batch of its own, whatever waits.
            const p = page([...rows, { id: `ページ${second}`, name: 'p' }]);
            await pipeline.push(judgePage(plan, run.id, p.rows, p.positions), async () => {}, () => committed.push(i));
          }
          await pipeline.drain();
        });
        await run.finish('succeeded', ZERO_COUNTS);
        expect(committed).toEqual(pages.map((_, i) => i));
      };
      const held = async () => {
        await api.settled();
        return Object.fromEntries([...api.resources(connector.tenant, 'contacts')].filter(([id]) => !id.startsWith('ページ')).map(([id, r]) => [id, r.first_name]));
      };
      const delivered = async () => {
        const rows = await store.db.selectFrom('delivered').select([guardedId().as('id'), 'deleted']).where('connector_id', '=', connector.id).execute();
        return Object.fromEntries(rows.map((r) => [unguardId(r.id), r.deleted]).filter(([id]) => !(id as string).startsWith('ページ')));
      };

      // Records: x flips, y rides along in every page, z is deleted between two upserts.
      const [x, y, z] = ['記録😀x', 'ÿ語y', '\ufeffzé'];
      await deliver([[{ id: x, name: 'A' }, { id: y, name: 'y0' }, { id: z, name: 'z0' }]]);
      expect(await held()).toEqual({ [x]: 'A', [y]: 'y0', [z]: 'z0' });

      // Four pages, all sent before the first is processed: x A -> B -> A -> B, z deleted then back.
      await deliver([
        [{ id: x, name: 'B' }, { id: y, name: 'y1' }],
        [{ id: x, name: 'A' }, { id: y, name: 'y2' }, { id: z, name: null, deleted_at: '2024-05-01T00:00:00Z' }],
        [{ id: x, name: 'B' }, { id: y, name: 'y3' }, { id: z, name: 'z3' }],
        [{ id: x, name: 'A' }, { id: y, name: 'y4' }],
      ]);
      expect(await held()).toEqual({ [x]: 'A', [y]: 'y4', [z]: 'z3' });

      // And ending at B, with x deleted in the second to last page.
      await deliver([
        [{ id: x, name: 'B' }],
        [{ id: x, name: 'A' }, { id: z, name: null, deleted_at: '2024-05-01T00:00:00Z' }],
        [{ id: x, name: null, deleted_at: '2024-05-01T00:00:00Z' }],
        [{ id: x, name: 'B' }, { id: y, name: 'y5' }],
      ]);
      expect(await held()).toEqual({ [x]: 'B', [y]: 'y5' });
      expect(await delivered()).toEqual({ [x]: false, [y]: false, [z]: true });
      // Nothing of any send is left claimed.
      const claims = await store.db.selectFrom('delivery_claims').select('external_id').where('connector_id', '=', connector.id).execute();
      expect(claims).toEqual([]);
    });
  }
});

describe('four pages in flight during a real pull whose rows keep flipping', () => {
  test('rows flipping A <-> B while the pull reads them again and again end in Reach at their newest value', { timeout: 60_000 }, async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const api = await lab.reachApi({ maxApplyDelayMs: 300 });
    const name = lab.unique('fr');
    const { table, view } = await lab.view(partner, name, 'id text primary key, name text not null, updated_at timestamptz not null',
      `select 'ключ' || g, 'A', clock_timestamp() - interval '1 hour' + g * interval '1 millisecond' from generate_series(1, 150) g`);
    const connector = await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0', reach: api, body: `streams:
  - { name: people, view: ${view}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 5, fields: { id: id, first_name: name } }
` });
    let flipping = true;
    const flips = (async () => {
      for (let i = 0; flipping; i++) {
        // Five hot rows flip, each moving to the end of the cursor order: read again by a later page of the same pull.
        await partner.exec(`update ${table} set name = case name when 'A' then 'B' else 'A' end, updated_at = clock_timestamp() where id in ('ключ1', 'ключ2', 'ключ3', 'ключ4', 'ключ5', 'ключ${10 + (i % 100)}')`);
        await new Promise((r) => setTimeout(r, 40));
      }
    })();
    const [during] = await lab.pull(store, connector);
    flipping = false;
    await flips;
    expect(during).toMatchObject({ status: 'succeeded' });
    // The hot rows were read again by later pages of the same pull.
    expect(during!.rowsRead).toBeGreaterThan(150);
    const [after] = await lab.pull(store, connector);
    expect(after).toMatchObject({ status: 'succeeded' });
    await api.settled();
    const rows = await partner.query<{ id: string; name: string }>(`select id, name from ${view}`);
    expect(Object.fromEntries(api.resources(connector.tenant, 'contacts'))).toEqual(Object.fromEntries(rows.map((r) => [r.id, { id: r.id, first_name: r.name }])));
    expect(await store.db.selectFrom('delivery_claims').select('external_id').where('connector_id', '=', connector.id).execute()).toEqual([]);
  });
});
