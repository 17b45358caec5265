/**
 * A stream waiting for its source holds none of the process's `concurrency` places: with one
 * place, a source whose every slot another replica holds does not keep a free source's
 * stream waiting (issue 15, item 3).
 */
import { Scheduler } from '../../src/scheduler/scheduler.ts';
import { takeSourceSlot } from '../../src/store/source-slots.ts';
import type { Hold } from '../../src/store/holds.ts';
import { describe, expect, test } from '../fixture.ts';
import { capturedLog, sleep, waitFor } from './ops-fixtures.ts';

const people = (view: string) => `streams:
  - { name: people, view: ${view}, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: id, email: email } }
`;

describe('the scheduler and a source at its cap', () => {
  test('a free source\'s stream runs at once while another source\'s stream waits for a slot (concurrency 1)', async ({ lab }) => {
    const store = await lab.store('wait');
    const columns = 'id bigint primary key, email text, updated_at timestamptz not null';
    const fill = (n: number) => `select g, 'u' || g || '@x.io', clock_timestamp() - interval '1 hour' + g * interval '1 ms' from generate_series(1, ${n}) g`;
    const busyPartner = await lab.partner('postgres', 'busy');
    const freePartner = await lab.partner('postgres', 'free');
    const busyView = await lab.view(busyPartner, 'people', columns, fill(5));
    const freeView = await lab.view(freePartner, 'people', columns, fill(7));
    const busy = await lab.connector(store, busyPartner, { id: lab.unique('busy'), source: 'max_connections: 1\nsettle_seconds: 0', body: people(busyView.view) });
    const free = await lab.connector(store, freePartner, { id: lab.unique('free'), source: 'settle_seconds: 0', body: people(freeView.view) });

    // Another replica (its own store session) runs on the busy source's only slot.
    const replica = (await lab.storeProcess(store, 'replica')).store;
    let held: Hold | undefined;
    const { log } = capturedLog();
    const scheduler = new Scheduler({ db: store.db, log, concurrency: 1, refreshSeconds: 60 });
    const runs = (connector: string) => store.db.selectFrom('runs').select(['status']).where('connector_id', '=', connector).execute();
    try {
      held = await takeSourceSlot(replica.db, busy.sourceId, 1);
      expect(held).toBeDefined();
      await scheduler.start();
      expect(scheduler.trigger(busy.id).started).toEqual(['people']);
      // Long enough for the busy stream to be polling for its source (every 500 ms).
      await sleep(1_200);
      expect(scheduler.trigger(free.id).started).toEqual(['people']);
      const t0 = performance.now();
      // The busy stream waits up to 60 s for its slot: holding the one place meanwhile would show here.
      await waitFor('the free source\'s run to succeed', async () => (await runs(free.id)).some((r) => r.status === 'succeeded'), 10_000);
      expect(performance.now() - t0).toBeLessThan(10_000);
      expect(await runs(busy.id)).toEqual([]);
      // The run's row says succeeded a moment before the scheduler lets go of it.
      await waitFor('the free run to leave the scheduler', async () => scheduler.running().length === 1, 10_000);
      expect(scheduler.running()).toEqual([`pull ${busy.id}/people`]);

      // The other replica's run ends: the waiting stream takes the slot and runs.
      await held!.release();
      held = undefined;
      await waitFor('the busy source\'s run to succeed', async () => (await runs(busy.id)).some((r) => r.status === 'succeeded'), 10_000);
    } finally {
      await scheduler.stop();
      await held?.release();
    }
  });
});
