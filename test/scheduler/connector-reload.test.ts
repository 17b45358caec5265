/**
 * A running scheduler sees every connector change by the store's connector revision, not by
 * the writers' clocks: a writer whose clock lags, and two writers committing out of order,
 * used to leave count + max(updated_at) unchanged and the change unseen (issue 15, item 4).
 */
import pg from 'pg';
import { vi } from 'vitest';
import { Scheduler } from '../../src/scheduler/scheduler.ts';
import { parseConnector, type LoadedConnector } from '../../src/config/load-connectors.ts';
import { connectorRevision, registerConnectors, setConnectorEnabled } from '../../src/store/connector-registry.ts';
import { openStore } from '../../src/store/open-store.ts';
import { describe, expect, test, type Lab } from '../fixture.ts';
import { capturedLog, sleep, waitFor, type LogEvent } from './ops-fixtures.ts';

// Never due while a test runs: the connectors are loaded and scheduled, not pulled.
const YEARLY = 'schedule: "0 0 1 1 *"\nschedule_timezone: UTC';

/** A store with two scheduled connectors and a scheduler polling it every 100 ms. */
async function setup(lab: Lab) {
  const store = await lab.store('reload');
  const partner = await lab.partner('postgres');
  const [x, y] = [lab.unique('rx'), lab.unique('ry')];
  for (const id of [x, y]) {
    await lab.connector(store, partner, { id, body: `${YEARLY}\nstreams:\n  - { name: people, view: v_people, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: id } }\n` });
  }
  const { log, events } = capturedLog();
  const scheduler = new Scheduler({ db: store.db, log, refreshSeconds: 0.1 });
  await scheduler.start();
  const scheduled = () => events.filter((e: LogEvent) => e.msg === 'connectors loaded').at(-1)?.scheduled;
  expect(scheduled()).toBe(2);
  return { store, x, y, scheduler, events, scheduled };
}

describe('connector reload by revision', () => {
  test('a change written with a clock an hour behind is picked up', async ({ lab }) => {
    const { store, x, scheduler, scheduled } = await setup(lab);
    try {
      const before = await connectorRevision(store.db);
      // The writer's clock lags: its updated_at is below the other connector's.
      vi.useFakeTimers({ toFake: ['Date'] });
      try {
        vi.setSystemTime(Date.now() - 3_600_000);
        await setConnectorEnabled(store.db, x, false);
      } finally {
        vi.useRealTimers();
      }
      expect(BigInt(await connectorRevision(store.db))).toBe(BigInt(before) + 1n);
      await waitFor('the scheduler to drop the disabled connector', () => scheduled() === 1, 5_000);
      expect(scheduler.trigger(x)).toEqual({ started: [], skipped: [{ stream: 'people', reason: 'disabled' }] });
    } finally {
      await scheduler.stop();
    }
  });

  test('two writers committing out of order: the earlier-stamped change committed last is picked up', async ({ lab }) => {
    const { store, x, y, scheduler, scheduled } = await setup(lab);
    const a = new pg.Client({ connectionString: store.url });
    const b = new pg.Client({ connectionString: store.url });
    await a.connect();
    await b.connect();
    try {
      // A disables x, stamped with its transaction's start, and commits late.
      await a.query('begin');
      await a.query('update connectors set enabled = false, updated_at = now() where id = $1', [x]);
      await sleep(50);
      // B touches y later and commits at once (it waits for A's revision lock while A is open).
      const bDone = b.query('update connectors set updated_at = clock_timestamp() where id = $1', [y]);
      // The scheduler polls meanwhile: whatever it reads now, it must not settle on it.
      await sleep(600);
      await a.query('commit');
      await bDone;
      await waitFor('the scheduler to drop the disabled connector', () => scheduled() === 1, 5_000);
      expect(scheduler.trigger(x).skipped).toEqual([{ stream: 'people', reason: 'disabled' }]);
    } finally {
      await scheduler.stop();
      await a.end();
      await b.end();
    }
  });

  test('every kind of write bumps the revision once per statement, on the embedded store too', async ({ lab }) => {
    const home = await lab.tmpDir();
    const embedded = await openStore({ home });
    try {
      const partner = await lab.partner('postgres');
      const id = lab.unique('re');
      const r0 = BigInt(await connectorRevision(embedded.db));
      const body = `streams:\n  - { name: people, view: v_people, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: id } }\n`;
      await lab.connector(embedded, partner, { id, body });
      const r1 = BigInt(await connectorRevision(embedded.db));
      expect(r1).toBeGreaterThan(r0);
      // Applying the same file again writes no connector: no reload for nothing.
      await lab.connector(embedded, partner, { id, body });
      expect(BigInt(await connectorRevision(embedded.db))).toBe(r1);
      await setConnectorEnabled(embedded.db, id, false);
      expect(BigInt(await connectorRevision(embedded.db))).toBe(r1 + 1n);
      await embedded.db.deleteFrom('connectors').where('id', '=', id).execute();
      expect(BigInt(await connectorRevision(embedded.db))).toBe(r1 + 2n);
      // A writer that changes nothing moves nothing a scheduler would miss; an unknown id is still refused.
      await expect(setConnectorEnabled(embedded.db, id, true)).rejects.toMatchObject({ code: 'RP_NOT_FOUND' });
    } finally {
      await embedded.close();
    }
  });
});

/** A connector on a source named by its database (no database behind it: apply only registers). */
function sourced(id: string, database: string, pageSize: number): LoadedConnector {
  const { connector, problems } = parseConnector(`${id}.yaml`, `tenant: t_${id}
source: { dialect: postgres, host: 127.0.0.1, port: 5432, database: ${database}, user: rp_ro, password: "\${env:RP_TEST_RO_PASSWORD}", ssl: { mode: disable } }
streams:
  - { name: people, view: v, schema: contacts, primary_key: [id], cursor: updated_at, page_size: ${pageSize}, fields: { id: id, email: email } }
`);
  if (!connector) throw new Error(JSON.stringify(problems));
  return connector;
}

describe('the connector revision under concurrent applies', () => {
  test('two applies touching a shared source in different orders both succeed, no deadlock (found in review)', async ({ lab }) => {
    const store = await lab.store();
    const [s1, s2, c1, c2, c3] = [lab.unique('s'), lab.unique('s'), lab.unique('c'), lab.unique('c'), lab.unique('c')];
    await registerConnectors(store.db, [sourced(c1, s1, 10), sourced(c2, s2, 10), sourced(c3, s2, 10)]);
    // An operator's session (or any slow statement) holds c1's stream row for a moment.
    const operator = new pg.Client({ connectionString: store.url });
    await operator.connect();
    await operator.query('begin');
    await operator.query('select * from streams where connector_id = $1 for update', [c1]);
    const waitingOnLocks = async (n: number) => {
      for (;;) {
        await operator.query('select pg_stat_clear_snapshot()');
        const { rows } = await operator.query<{ n: string }>(
          "select count(*) as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'");
        if (Number(rows[0]!.n) >= n) return;
        await sleep(25);
      }
    };
    const outcome = (p: Promise<unknown>) => p.then(() => 'ok', (e: Error & { code?: string }) => `${e.code ?? ''} ${e.message}`);
    // A changes c1, waits on the operator; c2 (on s2) comes next in the same apply.
    const a = outcome(registerConnectors(store.db, [sourced(c1, s1, 20), sourced(c2, s2, 10)]));
    await waitingOnLocks(1);
    // B changes c3 (on s2): it must not take s2's row before the revision A holds.
    const b = outcome(registerConnectors(store.db, [sourced(c3, s2, 30)]));
    await waitingOnLocks(2);
    await operator.query('commit');
    await operator.end();
    expect(await Promise.all([a, b])).toEqual(['ok', 'ok']);
  });
});
