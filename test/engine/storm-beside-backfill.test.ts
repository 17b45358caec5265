/**
 * A 429/503 storm while Reach applies batches out of order, with a throttled full backfill
 * (small pages, 3 chunks) beside repeated pulls from a second process, while the partner
 * updates, soft-deletes and un-deletes rows: after a final pull Reach equals the view.
 * (Kept from the review of the one delivery order, where it held.)
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startBackfill } from '../../src/backfill/run-backfill.ts';
import { pullConnector } from '../../src/engine/pull-connector.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { describe, expect, test } from '../fixture.ts';

describe('storm and out-of-order batches beside a backfill', () => {
  test('ends with Reach equal to the view', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const reach = await lab.reachApi({ maxApplyDelayMs: 300, seed: 11 });
    const name = lab.unique('st');
    await lab.view(partner, name, 'id bigint primary key, email text, deleted_at timestamptz, updated_at timestamptz not null',
      `select g, 'u' || g || '@x.io', null, clock_timestamp() - interval '1 hour' + g * interval '5 ms' from generate_series(1, 400) g`);
    await partner.exec(`create index t_${name}_c on t_${name} (updated_at, id)`);
    const connector = await lab.connector(store, partner, { id: name, reach, source: 'settle_seconds: 1\nmax_connections: 4', body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 13, deleted: { column: deleted_at }, fields: { id: id, email: email } }
` });
    reach.setFaults({ rate429: 0.2, rate503: 0.1, retryAfterSeconds: 0 });
    const other = (await lab.storeProcess(store)).store;
    const backfill = startBackfill({ store: store.db, log: testLog }, { connector: name, chunks: 3, checkpointRows: 7, maxRowsPerSecond: 300 }).then((h) => h.done);
    const pulls = (async () => {
      for (let i = 0; i < 8; i++) {
        await pullConnector({ store: other.db, connector, log: testLog }).catch(() => undefined);
        await sleep(150);
      }
    })();
    for (let i = 0; i < 12; i++) {
      await partner.exec(
        `update t_${name} set email = 'c${i}-' || id || '@x.io', updated_at = clock_timestamp() where id % 17 = ${i}`,
        `update t_${name} set deleted_at = case when deleted_at is null then clock_timestamp() end, updated_at = clock_timestamp() where id % 41 = ${i}`,
      );
      await sleep(200);
    }
    expect(await backfill).toMatchObject({ state: 'succeeded' });
    await pulls;
    reach.setFaults({});
    await sleep(1_300);
    const [last] = await lab.pull(store, connector);
    expect(last!.error).toBeUndefined();
    await reach.settled();
    const view = await partner.query<{ id: string; email: string }>(`select id::text, email from v_${name} where deleted_at is null order by id`);
    expect(Object.fromEntries(reach.resources(connector.tenant, 'contacts'))).toEqual(Object.fromEntries(view.map((r) => [r.id, { id: r.id, email: r.email }])));
  }, 180_000);
});
