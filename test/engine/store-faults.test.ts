/**
 * A state store that stops answering mid-run (a black-holed network, a hung host) fails the
 * run within the store's own timeouts instead of hanging it: nothing past the last committed
 * page is checkpointed, and once the store answers again the next pull delivers every row.
 */
import { sql } from 'kysely';
import { loadWatermark } from '../../src/store/delivery-state.ts';
import { openStore } from '../../src/store/open-store.ts';
import { readResources } from '../helpers/resources.ts';
import { PG_URL } from '../helpers/databases.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { describe, expect, test } from '../fixture.ts';

describe('a store that goes silent', () => {
  test('fails `pull` within the store timeouts, and the next pull delivers every row', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const name = lab.unique('sf');
    await lab.view(partner, name, 'id bigint primary key, email text, updated_at timestamptz not null',
      `select g, 'u' || g || '@x.io', clock_timestamp() - interval '1 hour' + g * interval '1 ms' from generate_series(1, 40) g`);
    const connector = await lab.connector(store, partner, {
      id: name, source: 'settle_seconds: 0',
      body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 10, fields: { id: id, email: email } }
`,
    });
    const storeProxy = await startTcpProxy(PG_URL.replace(/^postgres(ql)?:/, 'http:'));
    const proxied = new URL(store.url);
    proxied.port = String(storeProxy.port);
    // The built-in store's write of the second page is where the store goes silent.
    const silent = storeProxy.faultWhenClientSends('insert into resources', 'blackHole', 2);
    const env = {
      DATABASE_URL: proxied.toString(),
      REACH_PULLER_STORE_QUERY_TIMEOUT_MS: '1500',
      REACH_PULLER_STORE_CONNECT_TIMEOUT_MS: '1500',
    };
    const started = Date.now();
    const pull = await lab.cli(['pull', connector.id, '--json'], { env, timeoutMs: 60_000 });
    await silent;
    expect(pull.code).not.toBe(0);
    expect(pull.stderr).toContain('error RP_STORE_UNREACHABLE: the state store');
    // Timeouts of 1.5 s (query, connect) and the 2 s goodbye: a few of each, not minutes.
    expect(Date.now() - started).toBeLessThan(15_000);
    // One page was committed with its checkpoint; the one in the silent write was not.
    expect(await readResources(store.db, connector.tenant, 'contacts')).toHaveLength(10);
    expect((await loadWatermark(store.db, { connectorId: connector.id, stream: 'people' }))?.key).toEqual(['10']);

    // The store notices the vanished process (its keepalive; the proxy, still answering for it,
    // stands in by closing), which ends its session and with it the stream's hold.
    storeProxy.dropConnections();
    storeProxy.restore();
    const next = await lab.cli(['pull', connector.id, '--json'], { env: { DATABASE_URL: store.url } });
    expect(next.code, next.stderr).toBe(0);
    const view = await partner.query<{ id: string; email: string }>(`select v.id::text as id, v.email from v_${name} v order by v.id`);
    expect(await readResources(store.db, connector.tenant, 'contacts')).toEqual(view);
    await storeProxy.close();
  });

  test('a store connection that missed its answer is never handed out again (found in review)', async ({ lab }) => {
    const labStore = await lab.store();
    const proxy = await startTcpProxy(PG_URL.replace(/^postgres(ql)?:/, 'http:'));
    const url = new URL(labStore.url);
    url.port = String(proxy.port);
    process.env.REACH_PULLER_STORE_QUERY_TIMEOUT_MS = '1000';
    process.env.REACH_PULLER_STORE_CONNECT_TIMEOUT_MS = '1000';
    const store = await openStore({ databaseUrl: url.toString(), migrate: false });
    try {
      const ask = () => sql<{ one: number }>`select 1 as one`.execute(store.db).then(() => 'ok', (e: { code?: string }) => e.code);
      expect(await ask()).toBe('ok');
      // A failover: the statement in flight is lost, its connection never answers again...
      proxy.blackHole();
      expect(await ask()).toBe('RP_STORE_UNREACHABLE');
      // ...and the store answers on new connections: every statement succeeds, none waits on the old one.
      proxy.restore();
      const after: string[] = [];
      for (let i = 0; i < 3; i++) after.push((await ask())!);
      expect(after).toEqual(['ok', 'ok', 'ok']);
    } finally {
      delete process.env.REACH_PULLER_STORE_QUERY_TIMEOUT_MS;
      delete process.env.REACH_PULLER_STORE_CONNECT_TIMEOUT_MS;
      await store.close();
      await proxy.close();
    }
  });

  test('closing a store that went silent takes the goodbye bound, not for ever', async ({ lab }) => {
    const labStore = await lab.store();
    const proxy = await startTcpProxy(PG_URL.replace(/^postgres(ql)?:/, 'http:'));
    const url = new URL(labStore.url);
    url.port = String(proxy.port);
    const store = await openStore({ databaseUrl: url.toString(), migrate: false });
    await sql`select 1`.execute(store.db);
    await store.holds.tryTake('a stream');
    // Silent both ways, its FIN swallowed too: a goodbye (end()) would wait for an answer that never comes.
    proxy.blackHole();
    const started = Date.now();
    await store.close();
    expect(Date.now() - started).toBeLessThan(5_000);
    await proxy.close();
  });
});
