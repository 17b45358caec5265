/**
 * The delivery pipeline sends a page while the previous one commits (for Reach: while its
 * batches are processed). A page that shares a record with the page still committing must
 * wait until that page's send of it is settled (its claim, claimed-delivery.ts), or its
 * change detection compares against what was delivered before and drops a change: here a
 * record goes A -> B -> A across two pages, and without the wait Reach would be left at B.
 */
import { createSink, reachTarget, storeRuntime } from '../../src/engine/connector-runtime.ts';
import { DeliveryPipeline, PAGES_IN_FLIGHT } from '../../src/engine/page-delivery.ts';
import { judgePage, type PageOutcome } from '../../src/engine/page-judgement.ts';
import { startRun, ZERO_COUNTS } from '../../src/store/run-records.ts';
import { withPlannedStream } from '../../src/engine/planned-stream.ts';
import type { Position, SourceRow } from '../../src/interfaces.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { describe, expect, test } from '../fixture.ts';

describe('delivery pipeline', () => {
  test('lets a page that shares a record with the page still committing wait for it, so A -> B -> A ends at A', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    // Slow processing: a page's commit (which follows its batches) is still running when the next page is sent.
    const api = await lab.reachApi({ processingDelayMs: 300 });
    const { view } = await lab.view(partner, 'people', 'id bigint primary key, name text, updated_at timestamptz not null');
    const connector = await lab.connector(store, partner, { id: 'pipeline', source: 'settle_seconds: 0', reach: api, body: `streams:
  - { name: people, view: ${view}, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: id, first_name: name } }
` });
    const target = await reachTarget(connector.config, storeRuntime(store.db));
    const sink = createSink(target, testLog);
    // Pages as the source returns them: rows, and their (cursor, key) positions.
    const page = (names: Record<string, string>, second: number) => {
      const rows: SourceRow[] = Object.entries(names).map(([id, name]) => ({ id, name }));
      const positions: Position[] = rows.map((r) => ({ cursor: `2024-05-01T00:00:${String(second).padStart(2, '0')}.000000Z`, key: [String(r.id)] }));
      return { rows, positions };
    };
    const committed: number[] = [];
    const deliver = async (pages: { rows: SourceRow[]; positions: Position[] }[]) => {
      const run = await startRun(store.db, { connectorId: connector.id, stream: 'people' }, 'pull', undefined);
      await withPlannedStream(store.db, connector, 'people', undefined, async (plan) => {
        const pipeline = new DeliveryPipeline({ plan, store: store.db, sink, run, openRejections: { value: false } });
        for (const [i, p] of pages.entries()) {
          await pipeline.push(judgePage(plan, run.id, p.rows, p.positions), async () => {}, (o: PageOutcome) => {
            committed.push(i);
            expect(o.read).toBe(p.rows.length);
          });
        }
        await pipeline.drain();
      });
      await run.finish('succeeded', ZERO_COUNTS);
    };

    await deliver([page({ 1: 'A', 2: 'x' }, 1)]);
    await api.settled();
    expect(api.resources('pipeline', 'contacts').get('1')).toMatchObject({ first_name: 'A' });

    committed.length = 0;
    // Record 1 changes to B, then back to A, in consecutive pages; record 3 rides along.
    await deliver([page({ 1: 'B', 3: 'y' }, 2), page({ 1: 'A' }, 3), page({ 4: 'z' }, 4)]);
    await api.settled();
    expect(committed).toEqual([0, 1, 2]);
    expect(Object.fromEntries(api.resources('pipeline', 'contacts'))).toEqual({
      1: { id: '1', first_name: 'A' }, 2: { id: '2', first_name: 'x' }, 3: { id: '3', first_name: 'y' }, 4: { id: '4', first_name: 'z' },
    });
  });

  test(`keeps ${PAGES_IN_FLIGHT['reach-api']} pages posted to Reach before the first is processed, and no more`, async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    // Reach takes 4 s per batch: pages after the first go out meanwhile, up to the limit.
    const api = await lab.reachApi({ processingDelayMs: 4_000 });
    const { view } = await lab.view(partner, 'deep', 'id bigint primary key, name text, updated_at timestamptz not null',
      `select g, 'n' || g, now() - interval '1 hour' + g * interval '1 second' from generate_series(1, 12) g`);
    const connector = await lab.connector(store, partner, { id: 'deep', source: 'settle_seconds: 0', reach: api, body: `streams:
  - { name: people, view: ${view}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 2, fields: { id: id, first_name: name } }
` });
    const [summary] = await lab.pull(store, connector);
    expect(summary).toMatchObject({ status: 'succeeded', rowsSent: 12 });
    // Posted before the first page's batch could have been processed (4 s after it was taken).
    const posts = api.requests.filter((r) => r.method === 'POST').map((r) => r.at);
    expect(posts.filter((at) => at < posts[0]! + 4_000)).toHaveLength(PAGES_IN_FLIGHT['reach-api']);
    await api.settled();
    expect(api.resources('deep', 'contacts').size).toBe(12);
  });
});
