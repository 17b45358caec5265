/**
 * A stream's delivery record belongs to one target and one cursor (engine/stream-identity.ts).
 * Found by the review of the one delivery order: a backfill run from a shell without the
 * Reach target seeded the watermark past rows Reach never got; a cursor that changed kind
 * left every delivered version above the new ones, so changed records were `stale` for ever.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { cancelBackfill, resumeBackfill, startBackfill } from '../../src/backfill/run-backfill.ts';
import { loadWatermark } from '../../src/store/delivery-state.ts';
import { resetStream } from '../../src/engine/reset-stream.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, LAB_REACH_TOKEN, test } from '../fixture.ts';

const people = (name: string, cursor = 'updated_at') => `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: ${cursor}, fields: { id: id, email: email } }
`;

describe('the target a stream delivers to', () => {
  test('a run for another target is refused until ops forget what was delivered; then every row reaches the new one', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const reach = await lab.reachApi();
    const name = lab.unique('os');
    await lab.view(partner, name, 'id bigint primary key, email text, updated_at timestamptz not null',
      `select g, 'u' || g || '@x.io', clock_timestamp() - interval '1 hour' + g * interval '1 ms' from generate_series(1, 50) g`);
    // No `reach:` block: the process's environment decides the target.
    const connector = await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0', body: people(name) });
    const inStore = { DATABASE_URL: store.url, REACH_API_URL: '', REACH_API_TOKEN: '' };
    const toReach = { DATABASE_URL: store.url, REACH_API_URL: reach.url, REACH_API_TOKEN: LAB_REACH_TOKEN };

    // An operator starts the full backfill from a shell without the Reach target: it fills the built-in store and seeds the watermark.
    const backfill = await lab.cli(['backfill', connector.id, '--json'], { env: inStore });
    expect(backfill.code, backfill.stderr).toBe(0);
    const seeded = await loadWatermark(store.db, { connectorId: name, stream: 'people' });
    expect(seeded).toBeDefined();

    const refused = await lab.cli(['pull', connector.id, '--json'], { env: toReach });
    expect(refused.code).not.toBe(0);
    expect(JSON.parse(refused.stdout)[0]).toMatchObject({ status: 'failed', error: expect.stringMatching(/^RP_SINK_CHANGED .*delivers to store, but this process would deliver it to http:\/\/127\.0\.0\.1/) });
    expect(reach.resources(connector.tenant, 'contacts').size).toBe(0);
    expect(await loadWatermark(store.db, { connectorId: name, stream: 'people' })).toEqual(seeded);

    const reset = await lab.cli(['reset', connector.id, '--stream', 'people', '--forget-delivered'], { env: toReach });
    expect(reset.code, reset.stderr).toBe(0);
    const pull = await lab.cli(['pull', connector.id, '--json'], { env: toReach });
    expect(JSON.parse(pull.stdout)[0]).toMatchObject({ status: 'succeeded', read: 50, sent: 50 });
    await reach.settled();
    const view = await partner.query<{ id: string; email: string }>(`select id::text, email from v_${name}`);
    expect(Object.fromEntries(reach.resources(connector.tenant, 'contacts'))).toEqual(Object.fromEntries(view.map((r) => [r.id, r])));
  }, 120_000);
});

describe('the same Reach at a new address', () => {
  test('after `reset --target-moved` the stream goes on where it was: nothing delivered is sent again', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const reach = await lab.reachApi();
    const oldAddress = await startTcpProxy(reach.url);
    const name = lab.unique('tm');
    await lab.view(partner, name, 'id bigint primary key, email text, updated_at timestamptz not null',
      `select g, 'u' || g || '@x.io', clock_timestamp() - interval '1 hour' + g * interval '1 ms' from generate_series(1, 20) g`);
    const connector = await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0', body: people(name) });
    const via = (url: string) => ({ DATABASE_URL: store.url, REACH_API_URL: url, REACH_API_TOKEN: LAB_REACH_TOKEN });
    expect(JSON.parse((await lab.cli(['pull', connector.id, '--json'], { env: via(oldAddress.url) })).stdout)[0]).toMatchObject({ status: 'succeeded', sent: 20 });
    await partner.exec(`update t_${name} set email = 'new@x.io', updated_at = clock_timestamp() where id = 7`);
    expect(JSON.parse((await lab.cli(['pull', connector.id, '--json'], { env: via(reach.url) })).stdout)[0]).toMatchObject({ status: 'failed', error: expect.stringMatching(/^RP_SINK_CHANGED/) });
    const moved = await lab.cli(['reset', connector.id, '--stream', 'people', '--target-moved'], { env: via(reach.url) });
    expect(moved.code, moved.stderr).toBe(0);
    expect(JSON.parse((await lab.cli(['pull', connector.id, '--json'], { env: via(reach.url) })).stdout)[0]).toMatchObject({ status: 'succeeded', read: 1, sent: 1 });
    await reach.settled();
    expect(reach.resources(connector.tenant, 'contacts').get('7')).toEqual({ id: '7', email: 'new@x.io' });
    await oldAddress.close();
  }, 60_000);
});

describe('a stream whose cursor changes', () => {
  test('timestamptz -> bigint: read again from the start, only the changed record sent', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const name = lab.unique('ck');
    await lab.view(partner, name, 'id bigint primary key, email text, row_version bigint not null, updated_at timestamptz not null',
      `select g, 'u' || g || '@x.io', g, clock_timestamp() - interval '1 hour' from generate_series(1, 3) g`);
    await lab.pull(store, await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0', body: people(name) }));
    // The partner adds a version column for exact ordering; ops switch the cursor (no reset).
    const connector = await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0', body: people(name, 'row_version') });
    await partner.exec(`update t_${name} set email = 'new@x.io', row_version = 100 where id = 2`);
    const [run] = await lab.pull(store, connector);
    expect(run).toMatchObject({ status: 'succeeded', rowsRead: 3, rowsSent: 1, rowsUnchanged: 2 });
    expect(run!.watermarkAfter).toEqual({ cursor: '100', key: ['2'] });
    expect((await readResources(store.db, connector.tenant, 'contacts')).find((r) => r.id === '2')).toEqual({ id: '2', email: 'new@x.io' });
  });

  test('after `reset --forget-delivered`, timestamptz -> bigint: the built-in store takes the new cursor\'s versions', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const name = lab.unique('fk');
    await lab.view(partner, name, 'id bigint primary key, email text, row_version bigint not null, updated_at timestamptz not null',
      `select g, 'u' || g || '@x.io', g, clock_timestamp() - interval '1 hour' from generate_series(1, 3) g`);
    await lab.pull(store, await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0', body: people(name) }));
    // Ops forget what was delivered (the record of the old cursor goes with it), then switch the cursor.
    await resetStream(store.db, { connectorId: name, stream: 'people' }, { mode: 'forget-delivered' }, testLog);
    const connector = await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0', body: people(name, 'row_version') });
    await partner.exec(`update t_${name} set email = 'new@x.io', row_version = 100 where id = 2`);
    const [run] = await lab.pull(store, connector);
    expect(run).toMatchObject({ status: 'succeeded', rowsRead: 3 });
    const view = await partner.query<{ id: string; email: string }>(`select id::text, email from v_${name}`);
    expect(await readResources(store.db, connector.tenant, 'contacts')).toEqual(expect.arrayContaining(view));
    expect((await readResources(store.db, connector.tenant, 'contacts')).find((r) => r.id === '2')).toEqual({ id: '2', email: 'new@x.io' });
  });

  test('timestamptz -> timestamp (the view re-created): a change later the same day is delivered', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const name = lab.unique('cz');
    await lab.view(partner, name, 'id bigint primary key, email text, updated_at timestamptz not null',
      `select g, 'u' || g || '@x.io', clock_timestamp() - interval '10 seconds' from generate_series(1, 3) g`);
    const connector = await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0', body: people(name) });
    await lab.pull(store, connector);
    // The partner re-creates the view with the column as UTC wall-clock time (source.timezone is UTC).
    await partner.exec(`drop view v_${name}`, `create view v_${name} as select id, email, (updated_at at time zone 'UTC') as updated_at from t_${name}`);
    await partner.grantReadOnly();
    await partner.exec(`update t_${name} set email = 'new@x.io', updated_at = clock_timestamp() where id = 2`);
    const [run] = await lab.pull(store, connector);
    expect(run).toMatchObject({ status: 'succeeded', rowsSent: 1 });
    const got = await readResources(store.db, connector.tenant, 'contacts');
    expect(got.find((r) => r.id === '2')).toEqual({ id: '2', email: 'new@x.io' });
  });

  test('a backfill planned on the old cursor is not resumed under the new one', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const name = lab.unique('cb');
    await lab.view(partner, name, 'id bigint primary key, email text, row_version bigint not null, updated_at timestamptz not null',
      `select g, 'u' || g || '@x.io', g, clock_timestamp() - interval '1 hour' + g * interval '1 ms' from generate_series(1, 40) g`);
    await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0', body: people(name) });
    const handle = await startBackfill({ store: store.db, log: testLog }, { connector: name, chunks: 1, checkpointRows: 1, maxRowsPerSecond: 5 });
    await sleep(300);
    await cancelBackfill(store.db, handle.id);
    expect(await handle.done).toMatchObject({ state: 'cancelled' });
    const connector = await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0', body: people(name, 'row_version') });
    expect(await lab.pull(store, connector)).toMatchObject([{ status: 'succeeded', rowsRead: 40 }]);
    await expect(resumeBackfill({ store: store.db, log: testLog }, handle.id)).rejects.toMatchObject({ code: 'RP_CURSOR_CHANGED' });
  });
});
