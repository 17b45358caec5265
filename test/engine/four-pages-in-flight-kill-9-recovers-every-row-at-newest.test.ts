/**
 * Review of four pages in flight to Reach (page-delivery.ts PAGES_IN_FLIGHT['reach-api'] = 4):
 * the real CLI is killed (-9) while four pages are posted and none is processed (Reach takes
 * seconds per batch). The watermark must not cover a row Reach does not end up holding; rows
 * of the pages that were in flight then change (A -> B while the dead run's A is still being
 * applied) and the next pull, started at once, must leave every row in Reach at its newest
 * value, with nothing left claimed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { loadWatermark } from '../../src/store/delivery-state.ts';
import { shortSendDeadlines } from '../helpers/short-send-deadlines.ts';
import { openClaims, reachAndView } from '../helpers/reach-holds-view.ts';
import { describe, expect, test } from '../fixture.ts';

// The killed process and this one agree on short send deadlines, so the dead process's sends are settled within the test.
const CHILD_TIMING = shortSendDeadlines();

describe('kill -9 with four pages in flight to Reach', () => {
  for (const posts of [1, 4]) {
    test(`killed after ${posts} unprocessed post(s): the watermark covers only what Reach holds, and the next pull ends with every row at its newest value`, { timeout: 60_000 }, async ({ lab }) => {
      const partner = await lab.partner('postgres');
      const store = await lab.store();
      const api = await lab.reachApi({ processingDelayMs: 2_500 });
      const name = lab.unique('kf');
      const { view } = await lab.view(partner, name, 'id bigint primary key, name text not null, updated_at timestamptz not null',
        `select g, 'A' || g, timestamptz '2024-05-01 00:00:00+00' + g * interval '1 second' from generate_series(1, 40) g`);
      const connector = await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0', reach: api, body: `streams:
  - { name: people, view: ${view}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 5, fields: { id: id, first_name: name } }
` });
      const { child, result } = lab.spawnCli(['pull', name], { env: { DATABASE_URL: store.url, LOG_LEVEL: 'silent', ...CHILD_TIMING } });
      const accepted = () => api.requests.filter((r) => r.method === 'POST' && r.status === 202).length;
      while (accepted() < posts) {
        if (child.exitCode !== null) throw new Error(`the pull ended before it was killed: ${(await result).stderr}`);
        await sleep(5);
      }
      child.kill('SIGKILL');
      expect((await result).signal).toBe('SIGKILL');
      const at = accepted();
      expect(at).toBeGreaterThanOrEqual(posts);
      expect(at).toBeLessThanOrEqual(4);

      // Rows of the pages in flight change while Reach still applies the dead run's batches.
      await partner.exec(`update t_${name} set name = 'B' || id, updated_at = timestamptz '2024-05-01 01:00:00+00' + id * interval '1 second' where id % 5 in (1, 3)`);

      const ref = { connectorId: connector.id, stream: 'people' };
      const watermark = await loadWatermark(store.db, ref);
      await api.settled();
      const heldThen = api.resources(connector.tenant, 'contacts');
      for (let id = 1; watermark && id <= Number(watermark.key[0]); id++) expect(heldThen.has(String(id)), `row ${id} under the watermark`).toBe(true);

      const [next] = await lab.pull(store, connector);
      expect(next).toMatchObject({ status: 'succeeded' });
      const after = await reachAndView(api, connector.tenant, partner, view);
      expect(after.held).toEqual(after.view);
      expect(await openClaims(store.db, connector.id)).toEqual([]);
      // A pull from the start again sends nothing: what is delivered is what Reach holds.
      await store.db.deleteFrom('stream_state').where('connector_id', '=', name).execute();
      const [again] = await lab.pull(store, connector);
      expect(again).toMatchObject({ status: 'succeeded', rowsRead: 40, rowsSent: 0 });
    });
  }
});
