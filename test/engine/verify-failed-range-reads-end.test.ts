/**
 * Review of verify's ranges (in-order.ts, "a failure leaves nothing running"): a range's reads
 * of the store run side by side (Promise.all); when one fails, the others must have ended
 * before verify fails, or verify returns (its run recorded failed, the caller closing the
 * store) while they still run. Here the quarantine lookup of a range fails (its table is gone)
 * while the range's reads of `delivered` wait behind a lock another session holds.
 *
 * The choreography, by locks only: session A holds `delivered` before verify starts, so the
 * range's digest read waits; session B queues for `delivered` behind that read, so once A lets
 * go the digest read runs, then B holds the table; the row-by-row reads of the range then wait
 * on B while the quarantine lookup fails at once. Verify must not settle before B lets go.
 * (Waiting for verify to settle is bounded; verify can settle in that time only by failing
 * with reads still waiting.)
 */
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { until } from '../helpers/waits.ts';
import { verifyConnector } from '../../src/engine/verify.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { describe, expect, test } from '../fixture.ts';

describe('verify: a failed read of a range leaves none of its reads running', () => {
  test('verify fails only once every read of the range has ended', { timeout: 60_000 }, async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const name = lab.unique('vfail');
    await lab.view(partner, name, 'id bigint primary key, phone text, updated_at timestamptz not null',
      `select g, case when g = 3 then '12' else '415 555 01' || lpad(g::text, 2, '0') end, now() - interval '1 hour' + g * interval '1 second' from generate_series(1, 20) g`);
    const connector = await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0', body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, reject_threshold: 1,
      fields: { id: id, phone: { column: phone, transform: [{ phone_e164: { region: US } }] } } }
` });
    expect(await lab.pull(store, connector)).toMatchObject([{ status: 'succeeded', rowsRejected: 1 }]);
    // The range holds a rejected row, so it is compared row by row and its quarantine looked up: that lookup fails.
    await store.db.schema.alterTable('rejected_records').renameTo('rejected_records_away').execute();

    const a = new pg.Client({ connectionString: store.url });
    const b = new pg.Client({ connectionString: store.url });
    await a.connect();
    await b.connect();
    const ours = [(await a.query('select pg_backend_pid() as p')).rows[0].p, (await b.query('select pg_backend_pid() as p')).rows[0].p];
    // By pg_locks only: a statement waiting at its parse still shows the one before it in pg_stat_activity.
    const waitingOnDelivered = async (): Promise<number> => (await a.query(
      `select 1 from pg_locks where relation = 'delivered'::regclass and not granted and pid <> all($1::int[])`, [ours])).rowCount!;
    try {
      await a.query('begin');
      await a.query('lock table delivered in access exclusive mode');
      let settled = false;
      const verifying = verifyConnector({ store: store.db, connector, log: testLog }).finally(() => (settled = true));
      verifying.catch(() => undefined);
      // The range's digest read waits on A.
      await until(async () => (await waitingOnDelivered()) === 1);
      // B queues behind it.
      await b.query('begin');
      const bLocked = b.query('lock table delivered in access exclusive mode');
      await until(async () => (await a.query(`select 1 from pg_locks where pid = $1 and not granted`, [ours[1]])).rowCount! > 0);
      await a.query('commit');
      await bLocked;
      // The row-by-row reads of `delivered` wait on B (the quarantine lookup beside them has failed or will).
      await until(async () => (await waitingOnDelivered()) >= 2);
      await Promise.race([verifying.catch(() => undefined), sleep(3_000)]);
      const settledWhileReadsWaited = settled;
      await b.query('commit');
      await expect(verifying).rejects.toThrow(/rejected_records/);
      expect(settledWhileReadsWaited).toBe(false);
    } finally {
      await a.query('rollback').catch(() => undefined);
      await b.query('rollback').catch(() => undefined);
      await a.end();
      await b.end();
      await store.db.schema.alterTable('rejected_records_away').renameTo('rejected_records').execute().catch(() => undefined);
    }
  });
});
