/**
 * Backfill pages land late: a throttled backfill reads a page, waits in its rate limiter, and
 * delivers it after newer things happened to its rows. Found by the review of the one
 * delivery order: a record reconcile deleted meanwhile came back, and a quarantine entry of
 * a newer value was resolved by the older read.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startBackfill } from '../../src/backfill/run-backfill.ts';
import { reconcileStream } from '../../src/engine/reconcile.ts';
import { retryRejects } from '../../src/engine/retry-rejects.ts';
import { getConnector } from '../../src/store/connector-registry.ts';
import { listRejections } from '../../src/store/delivery-state.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test } from '../fixture.ts';

for (const sink of ['store', 'reach'] as const) {
  describe(`reconcile beside a throttled backfill (${sink})`, () => {
    test('a record reconcile deleted does not come back from a backfill page read before the delete', async ({ lab }) => {
      const partner = await lab.partner('postgres');
      const store = await lab.store();
      const reach = sink === 'reach' ? await lab.reachApi() : undefined;
      const name = lab.unique(`rr${sink[0]}`);
      await lab.view(partner, name, 'id bigint primary key, email text, updated_at timestamptz not null',
        `select g, 'u' || g || '@x.io', clock_timestamp() - interval '1 hour' + g * interval '1 second' from generate_series(1, 3) g`);
      const connector = await lab.connector(store, partner, {
        id: name, reach, source: 'settle_seconds: 0',
        body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: id, email: email } }
`,
      });
      const [pull] = await lab.pull(store, connector);
      expect(pull).toMatchObject({ status: 'succeeded', rowsSent: 3 });

      // One row per page, one row per second: row 3 is read at once and delivered about 2 s later.
      const handle = await startBackfill({ store: store.db, log: testLog }, { connector: name, chunks: 1, checkpointRows: 1, maxRowsPerSecond: 1 });
      await sleep(400);
      await partner.exec(`delete from t_${name} where id = 3`);
      const reconciled = await reconcileStream({ store: store.db, connector: await getConnector(store.db, name), stream: 'people', log: testLog, allowMassDelete: true });
      expect(reconciled).toMatchObject({ missing: ['3'], deleted: 1 });
      expect(await handle.done).toMatchObject({ state: 'succeeded' });
      await lab.pull(store, connector);

      const held = reach
        ? (await reach.settled(), [...reach.resources(connector.tenant, 'contacts').keys()].sort())
        : (await readResources(store.db, connector.tenant, 'contacts')).map((r) => String(r.id));
      const view = (await partner.query<{ id: string }>(`select id::text from v_${name} order by id`)).map((r) => r.id);
      expect(held).toEqual(view);
    });
  });
}

describe('a backfill page carrying an older read of a record quarantined meanwhile', () => {
  test('leaves the quarantine entry of the newer, undelivered value open', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const name = lab.unique('sq');
    await lab.view(partner, name, 'id bigint primary key, phone text, updated_at timestamptz not null',
      `values (1, 'not a phone', clock_timestamp() - interval '1 hour'), (2, '+14155552671', clock_timestamp() - interval '59 minutes'),
              (3, '+14155552672', clock_timestamp() - interval '58 minutes')`);
    const body = (phone: string) => `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, reject_threshold: 1, fields: { id: id, phone: ${phone} } }
`;
    const connector = await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0', body: body('{ column: phone, transform: [phone_e164] }') });
    await lab.pull(store, connector);
    // Row 1 is in quarantine: runs from now on resolve entries of what they deliver.

    const handle = await startBackfill({ store: store.db, log: testLog }, { connector: name, to: new Date(Date.now() - 30 * 60_000).toISOString(), chunks: 1, checkpointRows: 1, maxRowsPerSecond: 1 });
    await sleep(400);
    await partner.exec(`update t_${name} set phone = 'ask reception', updated_at = clock_timestamp() where id = 3`);
    const [pull] = await lab.pull(store, connector);
    expect(pull).toMatchObject({ rowsRejected: 1 });
    await handle.done;
    const open = (await listRejections(store.db, name)).map((r) => r.externalId).sort();

    // The mapping is fixed (phones kept as written); retry-rejects delivers what is still open.
    const fixed = await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0', body: body('phone') });
    await retryRejects({ store: store.db, connector: fixed, log: testLog });
    const row3 = (await readResources(store.db, connector.tenant, 'contacts')).find((r) => r.id === '3');
    expect({ open, row3 }).toEqual({ open: ['1', '3'], row3: { id: '3', phone: 'ask reception' } });
  });
});
