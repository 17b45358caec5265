/**
 * Review 7: the checkpoint's fence takes the run row's lock FOR UPDATE. That mode also
 * conflicts with FOR KEY SHARE, the lock a foreign key check takes on the referenced row, and
 * `rejected_records.run_id` references `runs(id)`. The fence before (an UPDATE of a non-key
 * column) took FOR NO KEY UPDATE, which lets key-share checks pass.
 *
 * Where it bites: page N+1 trips the reject-rate guard (page-delivery.ts sendJudged) and is
 * quarantined outside any transaction while page N's checkpoint commits (the pipeline runs
 * them side by side). Page N delivered row K, whose quarantine entry from an earlier run the
 * checkpoint resolves; page N+1 read K again, changed and invalid. The quarantine upsert locks
 * K's entry, sets run_id to this run and its foreign key check waits for the checkpoint's
 * FOR UPDATE; the checkpoint's resolveQuarantined waits for K's entry: a deadlock, which
 * PostgreSQL breaks by aborting one of them (the checkpoint, or the quarantine that was to
 * keep the reasons visible). The same statements in the same order, with the real functions.
 */
import { sql } from 'kysely';
import { quarantine, resolveQuarantined, type Rejection } from '../../src/store/delivery-state.ts';
import { recordProgress, startRun, ZERO_COUNTS } from '../../src/store/run-records.ts';
import { heldTransaction } from '../helpers/held-transaction.ts';
import { oneStreamConnector } from '../helpers/one-stream-connector.ts';
import { describe, expect, test } from '../fixture.ts';

describe('the checkpoint fence beside a quarantine of the same run', () => {
  test('a quarantine of the next page while a checkpoint resolves the same row: both commit, no deadlock', async ({ lab }) => {
    const { store, connector, ref } = await oneStreamConnector(lab, 'fence-quarantine');
    const rejection = (runId: string, cursor: string): Rejection => ({
      runId, tenant: connector.id, externalId: '7', sourceKey: ['7'], sourceCursor: cursor, fields: ['id'], reason: 'bad',
    });
    // An earlier run left row 7 in quarantine.
    const earlier = await startRun(store.db, ref, 'pull', undefined);
    await quarantine(store.db, ref, [rejection(earlier.id, '2024-01-01T00:00:00.000000Z')]);
    await earlier.finish('succeeded', ZERO_COUNTS);

    const run = await startRun(store.db, ref, 'pull', undefined);
    try {
      // Page N's checkpoint (commitCheckpoint): fence, resolve the entries of the rows it delivered, progress.
      const checkpoint = heldTransaction(store.db, (trx) => run.fence(trx), async (trx) => {
        await resolveQuarantined(trx, ref, 'instant', [{ key: ['7'], cursor: '2024-01-02T00:00:00.000000Z' }]);
        await recordProgress(trx, run.id, ZERO_COUNTS, undefined);
      });
      await checkpoint.ready;
      // Page N+1 trips the reject-rate guard: its rejections go to quarantine at once (row 7, newer and bad again).
      const next = quarantine(store.db, ref, [rejection(run.id, '2024-01-03T00:00:00.000000Z')]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      checkpoint.release();
      const results = await Promise.allSettled([checkpoint.done, next]);
      const failures = results.flatMap((r) => (r.status === 'rejected' ? [String((r.reason as Error).message)] : []));
      expect(failures, 'the checkpoint and the quarantine beside it').toEqual([]);
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from rejected_records
        where connector_id = ${connector.id} and resolved_at is null and run_id = ${run.id}`.execute(store.db);
      expect(rows[0]!.n).toBe(1);
    } finally {
      await run.finish('failed', ZERO_COUNTS);
    }
  });
});
