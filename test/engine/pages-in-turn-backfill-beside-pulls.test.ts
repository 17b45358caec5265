/**
 * Review of "pages looked at in turn" (reach-api-sink.ts `processed`, cb8223a) end to end: a
 * full backfill whose chunks run in parallel on one sink (so their pages wait on each other's
 * in one chain per tenant and schema) beside pulls in the same process, while Reach applies
 * batches out of order, some of them late, and the partner keeps updating rows. After a final
 * pull, Reach holds every row of the view at its newest value (held: no page lost or regressed).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startBackfill } from '../../src/backfill/run-backfill.ts';
import { pullConnector } from '../../src/engine/pull-connector.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { describe, expect, test } from '../fixture.ts';

describe('pages in turn: a backfill beside pulls, one process, Reach out of order', () => {
  test('ends with Reach equal to the view', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    // Every fifth batch Reach accepts is applied 700 ms late, the others within 150 ms, in any order.
    const reach = await lab.reachApi({ applyDelayOf: (n) => (n % 5 === 0 ? 700 : (n * 37) % 150) });
    const name = lab.unique('pt');
    await lab.view(partner, name, 'id bigint primary key, email text, updated_at timestamptz not null',
      `select g, 'u' || g || '@x.io', clock_timestamp() - interval '1 hour' + g * interval '5 ms' from generate_series(1, 500) g`);
    const connector = await lab.connector(store, partner, { id: name, reach, source: 'settle_seconds: 1\nmax_connections: 4', body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 11, fields: { id: id, email: email } }
` });
    const backfill = startBackfill({ store: store.db, log: testLog }, { connector: name, chunks: 4, checkpointRows: 5 }).then((h) => h.done);
    const pulls = (async () => {
      const outcomes: unknown[] = [];
      for (let i = 0; i < 6; i++) {
        outcomes.push(...(await pullConnector({ store: store.db, connector, log: testLog }).catch((e: Error) => [{ error: e.message }])));
        await sleep(100);
      }
      return outcomes;
    })();
    for (let i = 0; i < 8; i++) {
      await partner.exec(`update t_${name} set email = 'c${i}-' || id || '@x.io', updated_at = clock_timestamp() where id % 13 = ${i}`);
      await sleep(250);
    }
    expect(await backfill).toMatchObject({ state: 'succeeded' });
    await pulls;
    await sleep(1_300);
    const [last] = await lab.pull(store, connector);
    expect(last!.error).toBeUndefined();
    await reach.settled();
    const view = await partner.query<{ id: string; email: string }>(`select id::text, email from v_${name} order by id`);
    expect(Object.fromEntries(reach.resources(connector.tenant, 'contacts'))).toEqual(Object.fromEntries(view.map((r) => [r.id, { id: r.id, email: r.email }])));
  }, 180_000);
});
