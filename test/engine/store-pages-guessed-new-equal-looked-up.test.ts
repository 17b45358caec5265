/**
 * Review of page-delivery.ts `NewRecordsHint` (a page after one of all-new records is written
 * as new without looking its delivery records up, and proved at commit), side by side with
 * the page looked up first: two connectors on one store, each its own tenant, get the same
 * pages. One delivers them through one pipeline (pages after new ones are guessed new); the
 * other through a fresh pipeline per page (every page looked up first). Each page commits
 * before the next is sent, so both decide against the same delivery records.
 *
 * The pages mix what a guess gets wrong: soft-deletes of delivered records, a page of only
 * deletes (tombstones of records never delivered, a newer delete of a tombstone), a record
 * delivered at the same version (unchanged), at a newer one (stale), tombstoned newer, a
 * rejected row (quarantine), a page of only a rejected row, and records another stream of the
 * connector wrote into the same schema. Every page's counts, the store and the delivery
 * records must be the same for both, and the store what the reads say. Server PostgreSQL and
 * embedded PGlite.
 */
import { DeliveryPipeline } from '../../src/engine/page-delivery.ts';
import { judgePage, type PageOutcome } from '../../src/engine/page-judgement.ts';
import { withPlannedStream } from '../../src/engine/planned-stream.ts';
import { StoreSink } from '../../src/sinks/store/store-sink.ts';
import type { Position, SourceRow } from '../../src/interfaces.ts';
import { recordDelivered } from '../../src/store/delivery-state.ts';
import type { Store } from '../../src/store/open-store.ts';
import { startRun, ZERO_COUNTS } from '../../src/store/run-records.ts';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test, type Lab } from '../fixture.ts';

/** A read of a record: its name (or `null`: soft-deleted), at a second. */
type Read = [id: number, name: string | null, second: number];

function page(reads: Read[]) {
  const rows: SourceRow[] = reads.map(([id, name, second]) => ({
    id, name: name ?? 'gone', deleted_at: name === null ? `2024-05-01T00:00:${String(second).padStart(2, '0')}Z` : null,
  }));
  const positions: Position[] = reads.map(([id, , second]) => ({ cursor: `2024-05-01T00:00:${String(second).padStart(2, '0')}.000000Z`, key: [String(id)] }));
  return { rows, positions };
}
type Page = ReturnType<typeof page>;

const SEED: Read[][] = [
  [[1, 'Ann', 10], [2, 'Bob', 10], [3, 'Cy', 10], [4, null, 10]],
];

/** The run under test, page by page; what the page after a new one holds, in comments. */
const RUN: Read[][] = [
  [[10, 'Jo', 20], [11, 'Ka', 20]], // new: the next page is guessed
  [[12, 'Lu', 21], [1, null, 21]], // guessed: 1 was delivered, so a delete (not a tombstone)
  [[13, 'Mo', 22]],
  [[2, null, 23], [14, null, 23], [4, null, 23]], // guessed, only deletes: 2 deleted, 14 tombstone, 4 a newer tombstone
  [[15, 'Ny', 24]],
  [[3, 'Cy', 10], [16, 'O\u0000', 24], [17, 'Pi', 25]], // guessed: 3 unchanged, 16 rejected
  [[18, 'Qu', 26]],
  [[20, 'Ra', 26], [21, 'Sa', 26]], // guessed: 20 is the other stream's record (merged), none of the stream's
  [[22, 'Ta', 27]], // guessed and new
  [[11, 'Ka', 20], [10, 'Jo2', 27]], // guessed: 11 unchanged, 10 newer
  [[2, 'Bob', 9]], // looked up: stale under the tombstone
  [[23, 'Uv', 28]],
  [[13, null, 20], [24, null, 28]], // guessed: 13's delete is older (stale), 24 a tombstone
  [[25, 'Wes', 29]],
  [[24, 'Vw', 27], [26, 'Xi', 29]], // guessed: 24 is tombstoned newer (stale)
  [[27, 'Y\u0000', 30]], // guessed: only a rejected row
  [[28, 'Zed', 31], [4, 'Back', 31]], // guessed: 4 comes back after its tombstones
  [[5, 'Eve', 32], [6, 'Fay', 32]], // guessed: new
];

async function connectorOn(lab: Lab, store: Store, looked: boolean) {
  const partner = await lab.partner('postgres');
  const id = lab.unique(looked ? 'looked' : 'guessed');
  const { view } = await lab.view(partner, id, 'id bigint primary key, name text, deleted_at timestamptz, updated_at timestamptz not null');
  const connector = await lab.connector(store, partner, { id, source: 'settle_seconds: 0', body: `streams:
  - { name: people, view: ${view}, schema: contacts, primary_key: [id], cursor: updated_at, reject_threshold: 1, deleted: { column: deleted_at }, fields: { id: id, first_name: name } }
` });
  const ref = { connectorId: connector.id, stream: 'people' };
  // Another stream of the connector wrote record 20 into the same schema.
  await store.db.transaction().execute(async (trx) => {
    await new StoreSink().write(trx, { tenant: connector.tenant, schema: 'contacts', writer: `${connector.id}/mail`, deletes: [],
      upserts: [{ externalId: '20', json: '{"id":"20","email":"r@x.io"}', version: '2024-05-01T00:00:50.000000Z' }] });
    await recordDelivered(trx, { connectorId: connector.id, stream: 'mail' }, [{ externalId: '20', contentHash: 'm', version: '2024-05-01T00:00:50.000000Z', deleted: false }]);
  });
  /** One run; `perPage`: a fresh pipeline (so a lookup) for every page. Each page commits before the next is sent. */
  const deliver = async (pages: Page[], perPage: boolean) => {
    const outcomes: PageOutcome[] = [];
    const run = await startRun(store.db, ref, 'pull', undefined);
    await withPlannedStream(store.db, connector, 'people', undefined, async (plan) => {
      const ctx = { plan, store: store.db, sink: new StoreSink(), run, openRejections: { value: false } };
      let pipeline = new DeliveryPipeline(ctx);
      for (const [i, p] of pages.entries()) {
        if (perPage) pipeline = new DeliveryPipeline(ctx);
        await pipeline.push(judgePage(plan, run.id, p.rows, p.positions), async () => {}, (o) => { outcomes[i] = o; });
        await pipeline.drain();
      }
    });
    await run.finish('succeeded', ZERO_COUNTS);
    return outcomes;
  };
  const state = async () => ({
    stored: await readResources(store.db, connector.tenant, 'contacts'),
    resources: (await store.db.selectFrom('resources').select(['external_id', 'body', 'version', 'deleted', 'stream_versions'])
      .where('tenant_id', '=', connector.tenant).orderBy('external_id').execute())
      .map((r) => ({ ...r, stream_versions: Object.fromEntries(Object.entries(r.stream_versions as Record<string, string>).map(([k, v]) => [k.split('/')[1], v])) })),
    delivered: await store.db.selectFrom('delivered').select(['stream', 'external_id', 'content_hash', 'version', 'deleted'])
      .where('connector_id', '=', connector.id).orderBy('stream').orderBy('external_id').execute(),
    quarantined: (await store.db.selectFrom('rejected_records').select(['external_id', 'resolved_at'])
      .where('connector_id', '=', connector.id).orderBy('external_id').execute()).map((r) => [r.external_id, r.resolved_at === null]),
  });
  return { deliver, state };
}

describe('store pages guessed new equal pages looked up first', () => {
  for (const where of ['server PostgreSQL', 'embedded PGlite'] as const) {
    test(`${where}: deletes, tombstones, rejections, another stream's records: the same counts, store and delivery records`, async ({ lab }) => {
      const store = where === 'server PostgreSQL' ? await lab.store() : await lab.embeddedStore();
      const guessed = await connectorOn(lab, store, false);
      const looked = await connectorOn(lab, store, true);
      for (const s of [guessed, looked]) await s.deliver(SEED.map(page), true);

      const counts = (os: PageOutcome[]) => os.map((o) => ({ ...o }));
      const got = counts(await guessed.deliver(RUN.map(page), false));
      const want = counts(await looked.deliver(RUN.map(page), true));
      expect(got).toEqual(want);
      // What a user would check on the run: the counts as the reads say (a tombstone and a bump count unchanged).
      expect(got.map((o) => [o.sent, o.deleted, o.unchanged, o.rejected])).toEqual([
        [2, 0, 0, 0], [1, 1, 0, 0], [1, 0, 0, 0], [0, 1, 2, 0], [1, 0, 0, 0], [1, 0, 1, 1], [1, 0, 0, 0], [2, 0, 0, 0], [1, 0, 0, 0],
        [1, 0, 1, 0], [0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 2, 0], [1, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1], [2, 0, 0, 0], [2, 0, 0, 0],
      ]);

      const a = await guessed.state();
      const b = await looked.state();
      expect(a).toEqual(b);
      expect(a.stored).toEqual([
        { id: '3', first_name: 'Cy' }, { id: '4', first_name: 'Back' }, { id: '5', first_name: 'Eve' }, { id: '6', first_name: 'Fay' },
        { id: '10', first_name: 'Jo2' }, { id: '11', first_name: 'Ka' }, { id: '12', first_name: 'Lu' }, { id: '13', first_name: 'Mo' }, { id: '15', first_name: 'Ny' },
        { id: '17', first_name: 'Pi' }, { id: '18', first_name: 'Qu' }, { id: '20', first_name: 'Ra', email: 'r@x.io' }, { id: '21', first_name: 'Sa' },
        { id: '22', first_name: 'Ta' }, { id: '23', first_name: 'Uv' }, { id: '25', first_name: 'Wes' }, { id: '26', first_name: 'Xi' },
        { id: '28', first_name: 'Zed' },
      ]);
      // Deleted records stay tombstones at their newest version; 13 keeps its newer live read.
      const tomb = Object.fromEntries(a.resources.filter((r) => r.deleted).map((r) => [r.external_id, r.version.slice(17, 19)]));
      expect(tomb).toEqual({ 1: '21', 2: '23', 14: '23', 24: '28' });
      expect(a.resources.find((r) => r.external_id === '13')).toMatchObject({ deleted: false, body: { id: '13', first_name: 'Mo' } });
      expect(a.quarantined).toEqual([['16', true], ['27', true]]);
    });
  }
});
