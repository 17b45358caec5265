/**
 * The scheduler in process, against real PostgreSQL: cron ticks pull, an overlapping tick
 * is skipped, a transient failure retries until it succeeds, a permanent one parks; a
 * verify schedule verifies (report only) into run history and the verify metric.
 */
import net from 'node:net';
import { afterEach } from 'vitest';
import { listRuns } from '../../src/scheduler/run-history.ts';
import { Scheduler } from '../../src/scheduler/scheduler.ts';
import { unparkStreams } from '../../src/scheduler/stream-parking.ts';
import { PullerMetrics } from '../../src/server/puller-metrics.ts';
import type { Store } from '../../src/store/open-store.ts';
import { freePort } from '../helpers/free-port.ts';
import type { Partner } from '../helpers/partner.ts';
import { readResources } from '../helpers/resources.ts';
import { registerYaml } from '../helpers/store.ts';
import { describe, expect, test, type Lab } from '../fixture.ts';
import { capturedLog, customersConnector, customersView, waitFor } from './ops-fixtures.ts';

const RETRY = { attempts: 8, baseMs: 200, maxMs: 1000 };

describe('scheduler', () => {
  // Schedulers stop after their test; the lab closes the stores and drops the databases after the file.
  const open: Scheduler[] = [];
  afterEach(async () => {
    for (const scheduler of open.splice(0)) await scheduler.stop();
  });

  async function setup(lab: Lab, name: string, yaml: string, level = 'info') {
    const store = await lab.store();
    const connector = await registerYaml(store, name, yaml);
    const { log, events } = capturedLog(level);
    const metrics = new PullerMetrics();
    const scheduler = new Scheduler({ db: store.db, log, metrics, refreshSeconds: 1, retry: RETRY });
    open.push(scheduler);
    return { store, connector, scheduler, events, metrics };
  }

  async function expected(partner: Partner, view: string) {
    const rows = await partner.query<{ id: string; email: string }>(`select id::text, email from t_${view} order by updated_at`);
    return rows.map((r) => ({ id: r.id, email: r.email }));
  }

  const runs = (store: Store) => store.db.selectFrom('runs').selectAll().orderBy('id').execute();

  test('fires a cron schedule and pulls every row', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    await customersView(partner, 'cron', 30);
    const { store, connector, scheduler, events } = await setup(lab, 'cron', customersConnector(partner, 'cron', { schedule: '* * * * * *', pageSize: 7 }));
    await scheduler.start();
    await waitFor('a successful run', async () => (await runs(store)).some((r) => r.status === 'succeeded'));
    expect(await readResources(store.db, connector.tenant, 'contacts')).toEqual(await expected(partner, 'cron'));
    expect(events.some((e) => e.msg === 'tick claimed' && e.connector === 'cron')).toBe(true);
  });

  test('skips a tick that overlaps a running pull instead of queueing it', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    await customersView(partner, 'overlap', 12, 0.4);
    const { store, scheduler, events } = await setup(lab, 'overlap', customersConnector(partner, 'overlap', { schedule: '* * * * * *', pageSize: 3 }));
    await scheduler.start();
    const skipped = () => events.filter((e) => e.msg === 'skipped: stream is still running').length;
    await waitFor('two runs and a skipped tick', async () => (await runs(store)).filter((r) => r.status === 'succeeded').length >= 2 && skipped() >= 1, 40_000);
    await waitFor('the running pull to end', () => scheduler.running().length === 0, 20_000);
    await scheduler.stop();
    const all = await runs(store);
    // Every claimed tick either started a run or was skipped: none was queued for later.
    const claimed = events.filter((e) => e.msg === 'tick claimed').length;
    expect(all.length + skipped()).toBe(claimed);
    for (let i = 1; i < all.length; i++) {
      expect(all[i]!.started_at.getTime()).toBeGreaterThanOrEqual(all[i - 1]!.ended_at!.getTime());
    }
  });

  test('retries a transient failure with backoff until it succeeds', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    await customersView(partner, 'transient', 20);
    // A port where nothing listens yet: connection refused is transient.
    const port = await freePort();
    const { store, connector, scheduler, events } = await setup(lab, 'transient', customersConnector(partner, 'transient', { port }));
    await scheduler.start();
    expect(scheduler.trigger('transient').started).toEqual(['customers']);
    await waitFor('a refused attempt', async () => (await runs(store)).some((r) => r.error_code === 'RP_SOURCE_UNREACHABLE'));
    // The partner comes back: a plain TCP relay to the real PostgreSQL (PG_URL's host and port) on that port.
    const partnerAt = new URL(partner.url);
    const relay = net.createServer((client) => {
      const upstream = net.connect(Number(partnerAt.port || 5432), partnerAt.hostname);
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(port, '127.0.0.1', resolve));
    try {
      await waitFor('a successful retry', async () => (await runs(store)).some((r) => r.status === 'succeeded'), 30_000);
      await waitFor('the job to end', () => scheduler.running().length === 0);
      const all = await runs(store);
      expect(all.at(-1)!.status).toBe('succeeded');
      expect(all.slice(0, -1).every((r) => r.status === 'failed' && r.error_code === 'RP_SOURCE_UNREACHABLE')).toBe(true);
      expect(events.filter((e) => e.msg === 'transient failure; retrying').length).toBe(all.length - 1);
      expect(await readResources(store.db, connector.tenant, 'contacts')).toEqual(await expected(partner, 'transient'));
    } finally {
      await scheduler.stop();
      await new Promise((resolve) => relay.close(resolve));
    }
  });

  test('parks a stream on a permanent error and leaves it alone until unparked', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const { store, connector, scheduler, events } = await setup(lab, 'parked', customersConnector(partner, 'parked', { schedule: '* * * * * *' }));
    await scheduler.start();
    const parked = async () => (await store.db.selectFrom('streams').select('parked_reason').executeTakeFirstOrThrow()).parked_reason;
    await waitFor('the stream to park', async () => (await parked()) !== null);
    expect(await parked()).toMatch(/^RP_VIEW_MISSING: /);
    const ticksAtPark = events.filter((e) => e.msg === 'tick claimed').length;
    await waitFor('three more ticks', () => events.filter((e) => e.msg === 'tick claimed').length >= ticksAtPark + 3);
    // No retry and no run while parked: the partner is not hammered.
    expect((await runs(store)).map((r) => r.error_code)).toEqual(['RP_VIEW_MISSING']);
    expect(events.some((e) => e.msg === 'transient failure; retrying')).toBe(false);

    await customersView(partner, 'parked', 10);
    expect(await unparkStreams(store.db, 'parked')).toEqual(['customers']);
    await waitFor('a run after unparking', async () => (await runs(store)).some((r) => r.status === 'succeeded'));
    expect(await readResources(store.db, connector.tenant, 'contacts')).toEqual(await expected(partner, 'parked'));
  });

  test('a verify schedule verifies every stream, report only: run history, the metric, an error event when anything differs', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    await customersView(partner, 'verified', 12);
    const { store, connector, scheduler, events, metrics } = await setup(lab, 'verified',
      customersConnector(partner, 'verified', { extra: 'verify_schedule: "* * * * * *"', pageSize: 5 }));
    expect(await lab.pull(store, connector)).toMatchObject([{ status: 'succeeded', rowsSent: 12 }]);
    const verifies = async () => (await listRuns(store.db, connector.id)).items.filter((r) => r.kind === 'verify' && r.status === 'succeeded');
    const gauge = async (kind: string) => {
      const line = (await metrics.registry.metrics()).split('\n')
        .find((l) => l.startsWith(`reach_puller_verify_differences{tenant="${connector.tenant}",connector="verified",stream="customers",kind="${kind}"}`));
      return line === undefined ? undefined : Number(line.split(' ').at(-1));
    };
    const differencesFound = () => events.filter((e) => e.msg.startsWith('verify found differences'));

    await scheduler.start();
    await waitFor('a scheduled verify', async () => (await verifies()).length > 0);
    expect((await verifies())[0]!.detail).toMatchObject({ viewRows: 12, delivered: 12, differences: 0, missing: { count: 0 }, stale: { count: 0 } });
    await waitFor('the metric', async () => (await gauge('stale')) === 0);
    expect(differencesFound()).toEqual([]);

    // A row edited without moving its cursor: the next scheduled verify finds it stale.
    await partner.exec(`update t_verified set email = 'edited@example.com' where id = 5`);
    await waitFor('the difference in the metric', async () => (await gauge('stale')) === 1);
    expect(await gauge('missing')).toBe(0);
    expect((await verifies())[0]!.detail).toMatchObject({ differences: 1, stale: { count: 1, examples: ['5'] } });
    await waitFor('an error event', () => differencesFound().length > 0);
    expect(differencesFound()[0]).toMatchObject({ level: 50, connector: 'verified', stream: 'customers', differences: 1, stale: 1 });
    await scheduler.stop();

    // Report only: no pull and no repair ran, the record is still the old one; each verify tick was claimed once.
    const kinds = new Set((await runs(store)).slice(1).map((r) => r.kind));
    expect(kinds).toEqual(new Set(['verify']));
    expect((await readResources(store.db, connector.tenant, 'contacts')).find((r) => r.id === '5')).toEqual({ id: '5', email: 'u5@example.com' });
    const ticks = events.filter((e) => e.msg === 'tick claimed').map((e) => [e.job, e.tick]);
    expect(ticks.every(([job]) => job === 'verify')).toBe(true);
    expect(new Set(ticks.map(([, tick]) => tick)).size).toBe(ticks.length);
  });

  test("a connector's pull and verify schedules tick apart: one claim per job and second, neither eats the other's", async ({ lab }) => {
    const partner = await lab.partner('postgres');
    await customersView(partner, 'both', 6);
    const { store, scheduler, events } = await setup(lab, 'both',
      customersConnector(partner, 'both', { schedule: '* * * * * *', extra: 'verify_schedule: "* * * * * *"' }));
    await scheduler.start();
    const done = async (kind: string) => (await runs(store)).filter((r) => r.kind === kind && r.status === 'succeeded').length;
    await waitFor('three pulls and three verifies', async () => (await done('pull')) >= 3 && (await done('verify')) >= 3, 30_000);
    await scheduler.stop();
    const claims = events.filter((e) => e.msg === 'tick claimed').map((e) => `${String(e.job)} ${String(e.tick)}`);
    expect(new Set(claims).size).toBe(claims.length);
    const seconds = (job: string) => new Set(claims.filter((c) => c.startsWith(`${job} `)).map((c) => c.split(' ')[1]));
    const pulls = seconds('pull');
    expect([...seconds('verify')].filter((tick) => pulls.has(tick)).length).toBeGreaterThanOrEqual(2);
  });
});
