/**
 * Once a run is recorded as ended, no request of it may start: the next run settles a send
 * of an ended run after the request grace only, then sends the record's newer value, and a
 * late post of the older one would land after it (Reach applies batches in any order).
 * Found by CI under load (test/engine/failed-run-late-post.test.ts): a heartbeat in flight
 * when the run finished came back afterwards and opened the run's send window again.
 * Here the heartbeat is made to come back after `finish` by a lock on the run's row.
 */
import { sql } from 'kysely';
import { RUN_TIMING, startRun, ZERO_COUNTS } from '../../src/store/run-records.ts';
import { heldTransaction } from '../helpers/held-transaction.ts';
import { oneStreamConnector } from '../helpers/one-stream-connector.ts';
import { waitForLockWaits } from '../helpers/waits.ts';
import { describe, expect, test } from '../fixture.ts';

describe('a run that ended', () => {
  test('starts no request, even when a heartbeat sent before its end comes back after it', async ({ lab }) => {
    const { store, ref } = await oneStreamConnector(lab, 'ended-run');
    const saved = { ...RUN_TIMING };
    Object.assign(RUN_TIMING, { heartbeatMs: 50 });
    try {
      const run = await startRun(store.db, ref, 'pull', undefined);
      // The run's row locked: its next heartbeat (an UPDATE of that row) waits.
      const lock = heldTransaction(store.db, (trx) => sql`select id from runs where id = ${run.id} for update`.execute(trx));
      await lock.ready;
      await waitForLockWaits(store.db);
      const finished = run.finish('failed', ZERO_COUNTS);
      // The heartbeat goes first (it queued first), finds the run still running, and comes back after finish began.
      lock.release();
      await lock.done;
      await finished;
      expect(() => run.assertMaySend()).toThrow(/stopped sending: it ended/);
      const row = await store.db.selectFrom('runs').select('status').where('id', '=', run.id).executeTakeFirstOrThrow();
      expect(row.status).toBe('failed');
    } finally {
      Object.assign(RUN_TIMING, saved);
    }
  });
});
