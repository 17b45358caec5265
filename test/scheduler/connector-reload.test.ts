/**
 * A running scheduler sees every connector change by the store's connector revision, not by
 * the writers' clocks: a writer whose clock lags, and two writers committing out of order,
 * used to leave count + max(updated_at) unchanged and the change unseen (issue 15, item 4).
 */
import pg from 'pg';
import { vi } from 'vitest';
import { Scheduler } from '../../src/scheduler/scheduler.ts';
import { connectorRevision, setConnectorEnabled } from '../../src/store/connector-registry.ts';
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
