/**
 * The run fence (store/run-records.ts `fence`): every transaction that commits a run's work
 * checks, under the run row's lock, that the run is still `running`. Two promises, on the
 * real PostgreSQL store:
 * - a takeover's `abandoned()` update waits for a fenced transaction in flight, and a fence
 *   after it refuses: a run taken for dead commits nothing more;
 * - the transactions of one run do not wait for each other at the fence: a run to Reach
 *   claims its next page while the previous page settles and commits (bench figure 5).
 *   The fence once updated the row, and every transaction of the run queued on it;
 * - a checkpoint (which writes the run's row) beside the run's other transactions never
 *   deadlocks with them: it takes the row's lock for update at its fence, before any other.
 */
import { sql, type Transaction } from 'kysely';
import type { StoreSchema } from '../../src/store/schema.ts';
import { abandoned, recordProgress, startRun, ZERO_COUNTS } from '../../src/store/run-records.ts';
import { saveWatermark } from '../../src/store/delivery-state.ts';
import { heldTransaction } from '../helpers/held-transaction.ts';
import { oneStreamConnector } from '../helpers/one-stream-connector.ts';
import { describe, expect, test } from '../fixture.ts';

/** Resolves with what `work` gave, or with 'waited' after `ms`. */
function within<T>(work: Promise<T>, ms: number): Promise<T | 'waited'> {
  return Promise.race([work, new Promise<'waited'>((resolve) => setTimeout(() => resolve('waited'), ms))]);
}

describe('the run fence', () => {
  test('two transactions of one run pass the fence together', async ({ lab }) => {
    const { store, ref } = await oneStreamConnector(lab, 'fence-both');
    const run = await startRun(store.db, ref, 'pull', undefined);
    try {
      const first = heldTransaction(store.db, (trx) => run.fence(trx, 'share'));
      await first.ready;
      // The second transaction (the next page's claim, beside this page's settle) is not held up.
      const second = await within(store.db.transaction().execute(async (trx) => { await run.fence(trx, 'share'); return 'passed'; }), 5_000);
      first.release();
      await first.done;
      expect(second).toBe('passed');
    } finally {
      await run.finish('succeeded', ZERO_COUNTS);
    }
  });

  test('a takeover waits for a fenced transaction in flight; after it the run is refused', async ({ lab }) => {
    const { store, connector, ref } = await oneStreamConnector(lab, 'fence-takeover');
    const run = await startRun(store.db, ref, 'pull', undefined);
    try {
      const inFlight = heldTransaction(store.db, async (trx) => {
        await run.fence(trx, 'share');
        await sql`update stream_state set updated_at = now() where connector_id = ${connector.id}`.execute(trx);
      });
      await inFlight.ready;
      // Another process takes the run for dead: its update waits for the fenced commit.
      const other = await lab.storeProcess(store, 'taker');
      const takeover = other.store.db.updateTable('runs').set(abandoned()).where('id', '=', run.id).where('status', '=', 'running').execute();
      expect(await within(takeover, 1_000)).toBe('waited');
      inFlight.release();
      await inFlight.done;
      const [taken] = await takeover;
      expect(Number(taken!.numUpdatedRows)).toBe(1);
      await expect(store.db.transaction().execute((trx) => run.fence(trx))).rejects.toMatchObject({ code: 'RP_RUN_FENCED' });
    } finally {
      await run.finish('failed', ZERO_COUNTS);
    }
  });

  test('a checkpoint beside another transaction of its run: both commit, no deadlock', async ({ lab }) => {
    const { store, connector, ref } = await oneStreamConnector(lab, 'fence-checkpoint');
    await saveWatermark(store.db, ref, { cursor: '2024-01-01T00:00:00.000000Z', key: [] });
    const run = await startRun(store.db, ref, 'pull', undefined);
    const touchSharedRow = (trx: Transaction<StoreSchema>) => sql`update stream_state set updated_at = now() where connector_id = ${connector.id}`.execute(trx);
    try {
      // A settle of the run: fenced, the row it writes still to come.
      const settle = heldTransaction(store.db, (trx) => run.fence(trx, 'share'), touchSharedRow);
      await settle.ready;
      // The checkpoint: fenced, then that row, then the run's own row (its progress).
      const checkpoint = store.db.transaction().execute(async (trx) => {
        await run.fence(trx);
        await touchSharedRow(trx);
        await recordProgress(trx, run.id, ZERO_COUNTS, undefined);
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      // The settle writes the row and commits; PostgreSQL would report a deadlock within deadlock_timeout (1 s).
      settle.release();
      await Promise.all([settle.done, checkpoint]);
    } finally {
      await run.finish('succeeded', ZERO_COUNTS);
    }
  });
});
