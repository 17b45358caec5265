/**
 * SIGTERM ends `pull` and `serve` within REACH_PULLER_SHUTDOWN_SECONDS whatever a partner or
 * Reach does: a page stuck on a silent partner or in a Reach outage is abandoned without its
 * checkpoint (exit code 3, the log names it), and the next run delivers every row.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { CURSOR_ALIAS } from '../../src/sources/keyset.ts';
import { loadWatermark } from '../../src/store/delivery-state.ts';
import { MIGRATION_LOCK_ID } from '../../src/store/migrate.ts';
import { readResources } from '../helpers/resources.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { describe, expect, LAB_REACH_TOKEN, test } from '../fixture.ts';

const BOUND_SECONDS = 2;
// Short send deadlines: the next run settles the abandoned sends from Reach's account without a long wait.
const TIMING = { REACH_PULLER_HEARTBEAT_MS: '300', REACH_PULLER_SEND_DEADLINE_MS: '2000', REACH_PULLER_REQUEST_GRACE_MS: '1000' };
const ROWS = 40;

describe('a bounded stop', () => {
  test('`pull` stuck on a partner that went silent exits within the bound after SIGTERM, and the next pull delivers every row', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const name = lab.unique('bs');
    await lab.view(partner, name, 'id bigint primary key, email text, updated_at timestamptz not null',
      `select g, 'u' || g || '@x.io', clock_timestamp() - interval '1 hour' + g * interval '1 ms' from generate_series(1, ${ROWS}) g`);
    const proxy = await startTcpProxy('http://127.0.0.1:5432');
    const proxied = { ...partner, sourceYaml: (extra?: string) => partner.sourceYaml(extra).replace(/port: \d+/, `port: ${proxy.port}`) };
    // The partner's own limit is long: only the stop's bound can end this in time.
    const connector = await lab.connector(store, proxied, {
      id: name, source: 'settle_seconds: 0\nstatement_timeout_seconds: 600',
      body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 10, fields: { id: id, email: email } }
`,
    });
    const silent = proxy.faultWhenClientSends(CURSOR_ALIAS, 'blackHole', 2);
    const env = { DATABASE_URL: store.url, REACH_PULLER_SHUTDOWN_SECONDS: String(BOUND_SECONDS), LOG_LEVEL: 'info' };
    const pull = lab.spawnCli(['pull', connector.id, '--json'], { env, timeoutMs: 60_000 });
    await silent;
    await sleep(300);
    const signalled = Date.now();
    pull.child.kill('SIGTERM');
    const ended = await pull.result;
    expect(Date.now() - signalled).toBeLessThan(BOUND_SECONDS * 1000 + 3000);
    expect(ended.code).toBe(3);
    expect(ended.stderr).toContain(`pull ${connector.id}/people`);
    expect(ended.stderr).toContain('abandoning in-flight work');
    // The first page was delivered and checkpointed; the stuck one was not.
    expect((await loadWatermark(store.db, { connectorId: connector.id, stream: 'people' }))?.key).toEqual(['10']);

    proxy.restore();
    const next = await lab.cli(['pull', connector.id, '--json'], { env: { DATABASE_URL: store.url } });
    expect(next.code, next.stderr).toBe(0);
    const view = await partner.query<{ id: string; email: string }>(`select v.id::text as id, v.email from v_${name} v order by v.id`);
    expect(await readResources(store.db, connector.tenant, 'contacts')).toEqual(view);
    await proxy.close();
  });

  test('`serve` in a Reach outage exits within the bound after SIGTERM, and the next pull delivers every row', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const reach = await lab.reachApi();
    const name = lab.unique('bs');
    await lab.view(partner, name, 'id bigint primary key, email text, updated_at timestamptz not null',
      `select g, 'u' || g || '@x.io', clock_timestamp() - interval '1 hour' + g * interval '1 ms' from generate_series(1, ${ROWS}) g`);
    const connector = await lab.connector(store, partner, {
      id: name, source: 'settle_seconds: 0', reach,
      body: `schedule: "* * * * * *"
streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: id, email: email } }
`,
    });
    reach.setFaults({ rate503: 1 });
    const env = { ...TIMING, DATABASE_URL: store.url, REACH_PULLER_SHUTDOWN_SECONDS: String(BOUND_SECONDS), LOG_LEVEL: 'info' };
    const serve = lab.spawnCli(['serve', '--no-api', '--refresh-seconds', '1'], { env, timeoutMs: 60_000 });
    // The scheduled run is retrying its page against the outage (Reach's deadline: 10 minutes).
    while (!reach.requests.some((r) => r.status === 503)) await sleep(50);
    await sleep(300);
    const signalled = Date.now();
    serve.child.kill('SIGTERM');
    const ended = await serve.result;
    expect(Date.now() - signalled).toBeLessThan(BOUND_SECONDS * 1000 + 3000);
    expect(ended.code).toBe(3);
    expect(ended.stderr).toContain(`pull ${connector.id}/people`);
    expect(await loadWatermark(store.db, { connectorId: connector.id, stream: 'people' })).toBeUndefined();

    reach.setFaults({});
    const next = await lab.cli(['pull', connector.id, '--json'], { env: { ...TIMING, DATABASE_URL: store.url, REACH_API_TOKEN: LAB_REACH_TOKEN } });
    expect(next.code, next.stderr).toBe(0);
    await reach.settled();
    const view = await partner.query<{ id: string; email: string }>(`select id::text, email from v_${name}`);
    expect(Object.fromEntries(reach.resources(connector.tenant, 'contacts'))).toEqual(Object.fromEntries(view.map((r) => [r.id, r])));
  });

  test('`serve` signalled while its store opens (another replica migrating holds the lock) exits within the bound (found in review)', async ({ lab }) => {
    const store = await lab.store();
    const other = new pg.Client({ connectionString: store.url });
    await other.connect();
    await other.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
    try {
      const serve = lab.spawnCli(['serve', '--no-api'], {
        env: { DATABASE_URL: store.url, REACH_PULLER_SHUTDOWN_SECONDS: String(BOUND_SECONDS), LOG_LEVEL: 'info' }, timeoutMs: 60_000,
      });
      // Until serve waits for the migration lock.
      const waiting = async () => (await other.query(
        "select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted and database = (select oid from pg_database where datname = current_database())",
      )).rows[0].n > 0;
      while (!(await waiting())) await sleep(100);
      const signalled = Date.now();
      serve.child.kill('SIGTERM');
      const ended = await serve.result;
      expect(Date.now() - signalled).toBeLessThan(BOUND_SECONDS * 1000 + 3000);
      expect(ended.code).toBe(3);
    } finally {
      await other.end();
    }
  });
});
