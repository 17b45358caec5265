/**
 * Review of four pages in flight to Reach (page-delivery.ts PAGES_IN_FLIGHT['reach-api'] = 4):
 * the post of one page of the four in flight fails (the first, a middle one, the last) while
 * the pages around it are posted and Reach is slow to process them. The run fails; its
 * watermark must not pass that page, and every row at or before the watermark is in Reach at
 * its value. Rows then change (some of them in the pages that were in flight) and the next
 * pull leaves Reach equal to the view, nothing left claimed.
 */
import { connectionSettings, createSink, reachTarget, storeRuntime } from '../../src/engine/connector-runtime.ts';
import { runStream } from '../../src/engine/run-stream.ts';
import { PAGES_IN_FLIGHT } from '../../src/engine/page-delivery.ts';
import { openSource } from '../../src/sources/source-pools.ts';
import { loadWatermark } from '../../src/store/delivery-state.ts';
import { loadSchemaCatalog } from '../../src/store/schema-registry.ts';
import { RUN_TIMING } from '../../src/store/run-records.ts';
import { TransientError } from '../../src/errors.ts';
import type { BatchSink } from '../../src/sinks/sink.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { withPost } from '../helpers/wrapped-sink.ts';
import { openClaims, reachAndView } from '../helpers/reach-holds-view.ts';
import { describe, expect, test } from '../fixture.ts';

// A failed post leaves its send ambiguous: the next run settles it once no request of it can still arrive.
Object.assign(RUN_TIMING, { heartbeatMs: 200, sendDeadlineMs: 1_000, requestGraceMs: 300, reachClockSkewMs: 500 });

const PAGE = 5;
const ROWS = 40;

describe('a failed post with four pages in flight to Reach', () => {
  for (const failing of [1, 2, 3, 4, 6]) {
    test(`page ${failing} fails to post: the watermark stays before it, and the next pull makes Reach equal to the view`, { timeout: 60_000 }, async ({ lab }) => {
      expect(PAGES_IN_FLIGHT['reach-api']).toBe(4);
      const partner = await lab.partner('postgres');
      const store = await lab.store();
      const api = await lab.reachApi({ processingDelayMs: 700 });
      const name = lab.unique('fp');
      // One row a second: row i's cursor is second i, pages of 5 rows.
      const { view } = await lab.view(partner, name, 'id bigint primary key, name text not null, updated_at timestamptz not null',
        `select g, 'n' || g || '-é', timestamptz '2024-05-01 00:00:00+00' + g * interval '1 second' from generate_series(1, ${ROWS}) g`);
      const connector = await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0', reach: api, body: `streams:
  - { name: people, view: ${view}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: ${PAGE}, fields: { id: id, first_name: name } }
` });
      const real = createSink(await reachTarget(connector.config, storeRuntime(store.db)), testLog) as BatchSink;
      const firstOfFailing = String((failing - 1) * PAGE + 1);
      const failed: string[] = [];
      const sink = withPost(real, async (page, send) => {
        if (page.upserts.some((u) => u.externalId === firstOfFailing)) {
          failed.push(firstOfFailing);
          throw new TransientError('RP_SINK_UNAVAILABLE', 'Reach answered 503 past every retry');
        }
        return send();
      });
      const source = openSource(await connectionSettings(connector.config));
      try {
        const summary = await runStream({ connector, stream: connector.config.streams[0]!, schemas: await loadSchemaCatalog(store.db), source, sink, store: store.db, log: testLog });
        expect(failed).toEqual([firstOfFailing]);
        expect(summary.status).toBe('failed');
      } finally {
        await source.close();
      }
      await api.settled();
      const ref = { connectorId: connector.id, stream: 'people' };
      const watermark = await loadWatermark(store.db, ref);
      const through = watermark ? Number(watermark.key[0]) : 0;
      // Never past the page that was not accepted...
      expect(through).toBeLessThan(Number(firstOfFailing));
      // ...and everything it covers is in Reach at its value.
      const held = api.resources(connector.tenant, 'contacts');
      for (let id = 1; id <= through; id++) expect(held.get(String(id)), `row ${id}`).toEqual({ id: String(id), first_name: `n${id}-é` });

      // Rows change, those of the pages in flight among them; the next pull settles what was left and delivers the newest.
      await partner.exec(`update t_${name} set name = name || '-v2', updated_at = timestamptz '2024-05-01 01:00:00+00' + id * interval '1 second' where id % 3 = 0`);
      const [rerun] = await lab.pull(store, connector);
      expect(rerun).toMatchObject({ status: 'succeeded' });
      const after = await reachAndView(api, connector.tenant, partner, view);
      expect(after.held).toEqual(after.view);
      expect(await openClaims(store.db, connector.id)).toEqual([]);
      expect(await loadWatermark(store.db, ref)).toEqual({ cursor: '2024-05-01T01:00:39.000000Z', key: ['39'] });
    });
  }
});
