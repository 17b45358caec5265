/**
 * The ops API over real HTTP on a real store: the token guards every route but health,
 * registration validates like `apply`, a triggered pull shows in runs, status, metrics
 * (lag) and the `status` / `runs` commands; no answer carries a secret.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll } from 'vitest';
import { BackgroundBackfills } from '../../src/backfill/background-backfills.ts';
import { backfillHoldKey } from '../../src/backfill/backfill-store.ts';
import { Scheduler } from '../../src/scheduler/scheduler.ts';
import { buildOpsApi } from '../../src/server/ops-api.ts';
import { PullerMetrics } from '../../src/server/puller-metrics.ts';
import { RO_PASSWORD, type Partner } from '../helpers/partner.ts';
import { capturedLog, customersConnector, customersView, waitFor, type LogEvent } from '../scheduler/ops-fixtures.ts';
import { describe, expect, test, type Lab, type LabStore } from '../fixture.ts';

const TOKEN = 'ops-token-for-tests-5b1f';

describe('ops API', () => {
  /** One ops API for the file (a scheduler, backfills, a store, a partner with view `v_api`), made by the first test that needs it. */
  interface Ops { partner: Partner; store: LabStore; scheduler: Scheduler; backfills: BackgroundBackfills; app: FastifyInstance; base: string; events: LogEvent[] }
  let ops: Promise<Ops> | undefined;
  const opsOf = (lab: Lab) => (ops ??= (async () => {
    const partner = await lab.partner('postgres');
    await customersView(partner, 'api', 10);
    const store = await lab.store();
    const captured = capturedLog();
    const metrics = new PullerMetrics();
    const scheduler = new Scheduler({ db: store.db, log: captured.log, metrics, refreshSeconds: 1 });
    await scheduler.start();
    const backfills = new BackgroundBackfills({ store: store.db, log: captured.log });
    const app = buildOpsApi({ db: store.db, scheduler, metrics, backfills, token: TOKEN, log: captured.log });
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    return { partner, store, scheduler, backfills, app, base, events: captured.events };
  })());
  // Before the lab closes the store (the lab's cleanup runs after the file's afterAll hooks).
  afterAll(async () => {
    const o = await ops?.catch(() => undefined);
    await o?.app.close();
    await o?.backfills.stop();
    await o?.scheduler.stop();
  });
  let base = '';
  const bodies: string[] = [];

  /** Connector `api` registered (once) and, with `pulled`, one triggered pull of it succeeded: what the later tests look at. */
  let registered: Promise<void> | undefined;
  let pulled: Promise<void> | undefined;
  async function withApi(lab: Lab, stage: 'started' | 'registered' | 'pulled' = 'started'): Promise<Ops> {
    const o = await opsOf(lab);
    base = o.base;
    if (stage === 'started') return o;
    await (registered ??= (async () => {
      const yaml = customersConnector(o.partner, 'api', { settle: 3600, extra: 'lag_objective_seconds: 600' });
      expect((await call('PUT', '/connectors/api', { body: yaml, type: 'application/yaml' })).status).toBe(200);
    })());
    if (stage === 'pulled') {
      await (pulled ??= (async () => {
        expect((await call('POST', '/connectors/api/pull', { body: JSON.stringify({ stream: 'customers' }) })).status).toBe(202);
        await waitFor('the triggered run', async () => (await call('GET', '/connectors/api/runs')).json().items[0]?.status === 'succeeded');
      })());
    }
    return o;
  }

  async function call(method: string, path: string, options: { token?: string | null; body?: string; type?: string } = {}) {
    const headers: Record<string, string> = {};
    const token = options.token === undefined ? TOKEN : options.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (options.body !== undefined) headers['content-type'] = options.type ?? 'application/json';
    const res = await fetch(`${base}${path}`, { method, headers, body: options.body });
    const text = await res.text();
    bodies.push(text);
    return { status: res.status, text, json: () => JSON.parse(text) as any };
  }

  test('answers 401 without the token on every route but health', async ({ lab }) => {
    await withApi(lab);
    for (const [method, path] of [['GET', '/status'], ['GET', '/metrics'], ['GET', '/openapi.json'], ['PUT', '/connectors/api'],
      ['POST', '/connectors/api/pull'], ['GET', '/connectors/api/runs'], ['GET', '/no-such-route']] as const) {
      expect((await call(method, path, { token: null })).status, `${method} ${path}`).toBe(401);
      expect((await call(method, path, { token: 'wrong' })).status, `${method} ${path}`).toBe(401);
    }
    expect((await call('GET', '/healthz', { token: null })).status).toBe(200);
    expect((await call('GET', '/readyz', { token: null })).json()).toEqual({ ok: true });
    expect((await call('GET', '/openapi.json')).json().openapi).toBe('3.1.0');
  });

  test('registers a connector with the validation `apply` uses', async ({ lab }) => {
    const { partner } = await withApi(lab);
    // A connector of its own (`reg`, on the same view): the other tests' `api` is registered by withApi.
    const yaml = customersConnector(partner, 'api', { settle: 3600, extra: 'lag_objective_seconds: 600' }).replace('tenant: tenant-api', 'tenant: tenant-reg');
    const bad = await call('PUT', '/connectors/reg', { body: yaml.replace('${env:RP_TEST_RO_PASSWORD}', RO_PASSWORD), type: 'application/yaml' });
    expect(bad.status).toBe(400);
    expect(bad.json().problems[0]).toMatchObject({ path: 'source.password' });
    expect((await call('GET', '/status?connector=reg')).json()).toEqual([]);
    const created = await call('PUT', '/connectors/reg', { body: yaml, type: 'application/yaml' });
    expect(created.json()).toEqual({ created: ['reg'], updated: [], unchanged: [] });
    expect((await call('GET', '/status?connector=reg')).json()).toMatchObject([{ connector: 'reg', tenant: 'tenant-reg', stream: 'customers' }]);
    const mismatch = await call('PUT', '/connectors/other', { body: yaml.replace('tenant:', 'id: reg\ntenant:'), type: 'text/yaml' });
    expect(mismatch.status).toBe(400);
    expect((await call('PUT', '/connectors/reg', { body: 'x'.repeat(300 * 1024), type: 'text/yaml' })).status).toBe(413);
  });

  test('refuses through PUT what `apply` refuses: a cloud-metadata host, an unknown Reach schema; nothing is registered', async ({ lab }) => {
    const { partner } = await withApi(lab);
    const yaml = customersConnector(partner, 'api2', {});
    const metadata = await call('PUT', '/connectors/api2', { body: yaml.replace(/host: .*/, 'host: 169.254.169.254'), type: 'text/yaml' });
    expect(metadata.status).toBe(400);
    expect(metadata.text).toContain('cloud metadata service');
    const schema = await call('PUT', '/connectors/api2', { body: yaml.replace('schema: contacts', 'schema: no_such_schema'), type: 'text/yaml' });
    expect(schema.status).toBe(400);
    expect(schema.json().problems[0]).toMatchObject({ path: 'streams[0].schema' });
    expect((await call('GET', '/status?connector=api2')).json()).toEqual([]);
  });

  test('triggers a pull and shows it in runs, status (with lag) and metrics', async ({ lab }) => {
    const { scheduler, events } = await withApi(lab, 'registered');
    pulled ??= (async () => {
      const started = await call('POST', '/connectors/api/pull', { body: JSON.stringify({ stream: 'customers' }) });
      expect(started.status).toBe(202);
      expect(started.json()).toEqual({ started: ['customers'], skipped: [] });
      await waitFor('the triggered run', async () => (await call('GET', '/connectors/api/runs')).json().items[0]?.status === 'succeeded');
    })();
    await pulled;
    expect((await call('GET', '/connectors/api/runs?limit=5')).json()).toEqual({ items: [expect.objectContaining({ stream: 'customers', status: 'succeeded', read: 10, sent: 10 })] });

    // Rows are years old but the settle window is an hour: the data is fresh to about an hour.
    const [status] = (await call('GET', '/status?connector=api')).json();
    expect(status).toMatchObject({ tenant: 'tenant-api', connector: 'api', stream: 'customers', state: 'ok', lagObjectiveSeconds: 600, lagBreached: true });
    expect(status.lagSeconds).toBeGreaterThanOrEqual(3600);
    expect(status.lagSeconds).toBeLessThan(3600 + 120);

    const metrics = (await call('GET', '/metrics')).text;
    const labels = '{tenant="tenant-api",connector="api",stream="customers"}';
    expect(metrics).toContain(`reach_puller_rows_read_total${labels} 10`);
    expect(metrics).toContain(`reach_puller_lag_objective_breached${labels} 1`);
    const lag = Number(new RegExp(`reach_puller_lag_seconds${labels.replace(/[{}]/g, '\\$&')} (\\d+)`).exec(metrics)?.[1]);
    expect(lag).toBeGreaterThanOrEqual(3600);

    await scheduler.checkLagObjectives();
    expect(events.filter((e) => e.msg === 'lag objective breached')).toMatchObject([{ connector: 'api', stream: 'customers', objectiveSeconds: 600 }]);
    expect((await call('GET', '/connectors/api/rejects')).json()).toEqual({ items: [] });
  });

  test('shows the same in `reach-puller status` and `runs`', { timeout: 150_000 }, async ({ lab }) => {
    const { store } = await withApi(lab, 'pulled');
    const cli = async (...args: string[]) => {
      const result = await lab.cli(args, { env: { DATABASE_URL: store.url, LOG_LEVEL: 'silent' } });
      expect(result.code, result.stderr).toBe(0);
      return result;
    };
    const [row] = JSON.parse((await cli('status', '--connector', 'api', '--json')).stdout);
    expect(row).toMatchObject({ connector: 'api', state: 'ok', lagBreached: true });
    expect(row.lagSeconds).toBeGreaterThanOrEqual(3600);
    const table = (await cli('status')).stdout;
    expect(table).toMatch(/^TENANT\s+CONNECTOR\s+STREAM\s+STATE/);
    expect(table).toMatch(/tenant-api\s+api\s+customers\s+ok\s+succeeded .* 1h\dm > 10m0s!/);
    const runs = JSON.parse((await cli('runs', 'api', '--stream', 'customers', '--json')).stdout);
    expect(runs).toEqual({ items: [expect.objectContaining({ status: 'succeeded', read: 10 })] });
  });

  test('disables and enables a connector', async ({ lab }) => {
    await withApi(lab, 'registered');
    expect((await call('POST', '/connectors/api/disable')).json()).toEqual({ connector: 'api', enabled: false });
    expect((await call('GET', '/status?connector=api')).json()[0].state).toBe('disabled');
    expect((await call('POST', '/connectors/api/pull')).json()).toEqual({ started: [], skipped: [{ stream: 'customers', reason: 'disabled' }] });
    expect((await call('POST', '/connectors/api/enable')).json()).toEqual({ connector: 'api', enabled: true, unparked: [] });
    expect((await call('GET', '/status?connector=api')).json()[0].state).not.toBe('disabled');
    expect((await call('POST', '/connectors/nope/enable')).status).toBe(404);
  });

  test('starts a backfill, reports its progress, and refuses what it cannot do', async ({ lab }) => {
    await withApi(lab, 'registered');
    const started = await call('POST', '/connectors/api/backfills', { body: JSON.stringify({ stream: 'customers', chunks: 2 }) });
    expect(started.status).toBe(202);
    const { id } = started.json();
    await waitFor('the backfill', async () => (await call('GET', `/backfills/${id}`)).json().state === 'succeeded');
    expect((await call('GET', `/backfills/${id}`)).json()).toMatchObject({ id, connector: 'api', stream: 'customers', rowsDone: 10, percent: 100 });
    expect((await call('GET', '/backfills')).json().items.map((b: { id: string }) => b.id)).toContain(id);
    expect((await call('POST', `/backfills/${id}/cancel`)).status).toBe(404);
    expect((await call('POST', '/connectors/api/backfills', { body: JSON.stringify({ chunks: 0 }) })).status).toBe(400);

    // A throttled backfill (pages of 2 rows at 1 row/s) shows in status and metrics while it runs, and can be cancelled.
    const slow = (await call('POST', '/connectors/api/backfills', { body: JSON.stringify({ chunks: 1, maxRowsPerSecond: 1, checkpointRows: 2 }) })).json();
    await waitFor('the backfill in status', async () => (await call('GET', '/status?connector=api')).json()[0].backfill !== null);
    const [status] = (await call('GET', '/status?connector=api')).json();
    expect(status).toMatchObject({ state: 'backfilling', backfill: { id: slow.id } });
    expect((await call('GET', '/metrics')).text).toContain('reach_puller_backfill_progress_ratio{tenant="tenant-api",connector="api",stream="customers"}');
    expect((await call('POST', `/backfills/${slow.id}/cancel`)).status).toBe(200);
    await waitFor('the cancel', async () => (await call('GET', `/backfills/${slow.id}`)).json().state === 'cancelled');
    expect((await call('GET', '/status?connector=api')).json()[0].backfill).toBeNull();
  });

  test('status says backfilling while a backfill is live, also between the runs of its chunks', async ({ lab }) => {
    const o = await withApi(lab);
    // A connector of its own: no other test's backfill runs on its stream.
    await customersView(o.partner, 'bf', 3);
    expect((await call('PUT', '/connectors/bf', { body: customersConnector(o.partner, 'bf', { settle: 0 }), type: 'application/yaml' })).status).toBe(200);
    // A backfill its process holds, none of whose chunks runs at this moment (planning, a throttle's pause, between chunks).
    const { id } = await o.store.db.insertInto('backfills').values({ connector_id: 'bf', stream: 'customers', status: 'running', checkpoint_rows: 5000 } as never)
      .returning('id').executeTakeFirstOrThrow();
    const hold = (await o.store.holds.tryTake(backfillHoldKey(id)))!;
    try {
      const [status] = (await call('GET', '/status?connector=bf')).json();
      expect(status).toMatchObject({ state: 'backfilling', backfill: { id } });
    } finally {
      await hold.release();
      await o.store.db.updateTable('backfills').set({ status: 'cancelled' }).where('id', '=', id).execute();
    }
  });

  test('never answers with a secret', async ({ lab }) => {
    await withApi(lab, 'pulled');
    // Every route that reads state, on top of whatever the other tests of the file were answered.
    for (const path of ['/status', '/metrics', '/openapi.json', '/connectors/api/runs', '/connectors/api/rejects', '/backfills', '/status?connector=reg']) {
      expect((await call('GET', path)).status, path).toBe(200);
    }
    expect(bodies.length).toBeGreaterThan(6);
    for (const body of bodies) expect(body).not.toContain(RO_PASSWORD);
  });
});
