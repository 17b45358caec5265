/**
 * A run cut off from the store (a network partition) while it posts a large page: its
 * requests queue in the sink's concurrency limiter, and each checks the run's send deadline
 * inside its slot, not before it. Found by the review of the one delivery order: a request
 * that waited in the limiter started long after the deadline, and overwrote the newer value
 * sent by the run that took the stream over.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { PG_URL } from '../helpers/databases.ts';
import { describe, expect, LAB_REACH_TOKEN, test } from '../fixture.ts';

describe('a run cut off from the store while its requests wait in the sink\'s limiter', () => {
  test('sends nothing once its send deadline passed, so a takeover\'s newer value is not overwritten', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const reach = await lab.reachApi();
    const name = lab.unique('fq');
    const rows = 12_000;
    await lab.view(partner, name, 'id bigint primary key, email text, updated_at timestamptz not null',
      `select g, 'u' || g || '@x.io', clock_timestamp() - interval '1 hour' + g * interval '1 ms' from generate_series(1, ${rows}) g`);
    const connector = await lab.connector(store, partner, {
      id: name, source: 'settle_seconds: 0',
      body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: ${rows}, fields: { id: id, email: email } }
`,
    });
    // Process A reaches the store through a proxy we can cut, and Reach through a slow network
    // (2.5 s each way, as long as the request grace: every single request arrives within it).
    const storeProxy = await startTcpProxy(PG_URL.replace(/^postgres(ql)?:/, 'http:'));
    const reachProxy = await startTcpProxy(reach.url, 2_500);
    const proxied = new URL(store.url);
    proxied.port = new URL(storeProxy.url).port;
    const timing = { REACH_PULLER_HEARTBEAT_MS: '300', REACH_PULLER_SEND_DEADLINE_MS: '3000', REACH_PULLER_REQUEST_GRACE_MS: '2500', REACH_API_TOKEN: LAB_REACH_TOKEN };
    const a = lab.spawnCli(['pull', connector.id], { env: { ...timing, DATABASE_URL: proxied.toString(), REACH_API_URL: reachProxy.url }, timeoutMs: 120_000 });

    // A has claimed its page and started posting (12 requests, 4 at a time).
    while ((await store.db.selectFrom('delivery_sends').select('id').where('connector_id', '=', connector.id).execute()).length === 0) await sleep(20);
    await sleep(150);
    storeProxy.kill();
    // B reaches Reach by the same address on a fast network; A's open connections stay slow.
    reachProxy.setLatency(0);
    // The partner changes the last row (it sits in A's last request).
    await partner.exec(`update t_${name} set email = 'new@x.io', updated_at = clock_timestamp() where id = ${rows}`);

    // Process B takes the stream over at once and pulls.
    const env = { ...timing, DATABASE_URL: store.url, REACH_API_URL: reachProxy.url };
    const b = await lab.cli(['pull', connector.id, '--json'], { env, timeoutMs: 120_000 });
    expect(b.code, b.stderr).toBe(0);
    expect((await a.result).code).not.toBe(0);
    await reach.settled();
    expect(reach.resources(connector.tenant, 'contacts').get(String(rows))).toEqual({ id: String(rows), email: 'new@x.io' });
    // A fresh pull agrees: the store's record of what Reach holds is the truth.
    const c = await lab.cli(['pull', connector.id, '--json'], { env });
    expect(JSON.parse(c.stdout)[0]).toMatchObject({ status: 'succeeded', sent: 0 });
    await reach.settled();
    const view = await partner.query<{ id: string; email: string }>(`select id::text, email from v_${name}`);
    expect(Object.fromEntries(reach.resources(connector.tenant, 'contacts'))).toEqual(Object.fromEntries(view.map((r) => [r.id, r])));
    await reachProxy.close();
    await storeProxy.close();
  }, 180_000);
});
