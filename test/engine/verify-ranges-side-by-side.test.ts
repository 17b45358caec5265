/**
 * Review of verify's ranges compared side by side (in-order.ts), with the interleaving forced
 * by locks on the real store rather than left to timing:
 *
 * - the earlier range's reads wait (its quarantine lookup, behind a lock on rejected_records)
 *   while the later range's reads end: findings are still recorded in range order, so a
 *   record whose rows fall in both ranges gets the later range's verdict;
 * - the source fails (a partner function raises in the second page) while the first range's
 *   reads wait (behind a lock on delivered): verify fails with the source's error, and only
 *   once the range's reads have ended;
 * - the first range's reads fail (its quarantine lookup: the table is gone) while the second
 *   range's wait (its check of the built-in store's records, behind a lock on resources):
 *   verify fails with that error, and only once the second range's reads have ended.
 *
 * Waiting for verify to settle while a read is held is bounded (a correct verify cannot settle
 * then, so the bound only limits how long a wrong one is given to show itself).
 */
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { until } from '../helpers/waits.ts';
import { verifyConnector } from '../../src/engine/verify.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { describe, expect, test, type LabStore } from '../fixture.ts';
import { codedPeople } from '../helpers/coded-people.ts';

async function session(store: LabStore) {
  const c = new pg.Client({ connectionString: store.url });
  await c.connect();
  const pid: number = (await c.query('select pg_backend_pid() as p')).rows[0].p;
  return { c, pid };
}


/** Backends other than `ours` waiting for a lock on `table`. */
async function waitingOn(c: pg.Client, table: string, ours: number[]): Promise<number> {
  return (await c.query(`select 1 from pg_locks where relation = $1::regclass and not granted and pid <> all($2::int[])`, [table, ours])).rowCount!;
}

describe('verify: ranges compared side by side, interleavings forced by locks', () => {
  test('the earlier range\'s reads end after the later one\'s: the later range\'s finding still wins', { timeout: 60_000 }, async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const name = lab.unique('vlate');
    // Verify's ranges (pages of 5, cut before each page's last cursor value): rows 1-4, 5-9, 10-14...
    // Row 2 does not map (a phone that is no number), so range 1 is compared row by row and looks up the quarantine.
    // Rows 4 and 7 map to one record, 'dup', delivered from row 7.
    const rows = Array.from({ length: 30 }, (_, i) => i + 1).map((id) =>
      `(${id}, '${id === 4 || id === 7 ? 'dup' : `e${id}`}', '${id === 2 ? '12' : `415 555 01${String(id).padStart(2, '0')}`}', ` +
      `'${id === 4 ? 'early' : `n${id}`}', now() - interval '${600 - id} second')`);
    const { connector } = await codedPeople(lab, store, partner, name, rows);
    expect(await lab.pull(store, connector)).toMatchObject([{ status: 'succeeded', rowsRejected: 1 }]);
    // The real difference, in range 2: a record never delivered.
    await store.db.deleteFrom('delivered').where('connector_id', '=', connector.id).where('external_id', '=', 'e8').execute();

    const a = await session(store);
    try {
      await a.c.query('begin');
      await a.c.query('lock table rejected_records in access exclusive mode');
      let settled = false;
      const verifying = verifyConnector({ store: store.db, connector, log: testLog, pageSize: 5 }).finally(() => (settled = true));
      verifying.catch(() => undefined);
      // Range 1's quarantine lookup waits; range 2 is read, judged and compared meanwhile.
      await until(async () => (await waitingOn(a.c, 'rejected_records', [a.pid])) > 0);
      await Promise.race([verifying.catch(() => undefined), sleep(2_000)]);
      expect(settled).toBe(false);
      await a.c.query('commit');
      const [report] = await verifying;
      expect({ stale: report!.stale, missing: report!.missing, extra: report!.extra, quarantined: report!.quarantined.count,
        rangesDiffering: report!.rangesDiffering, viewRows: report!.viewRows }).toEqual({
        stale: { count: 0, examples: [] }, missing: { count: 1, examples: ['e8'] }, extra: { count: 0, examples: [] }, quarantined: 1,
        rangesDiffering: 2, viewRows: 30,
      });
    } finally {
      await a.c.query('rollback').catch(() => undefined);
      await a.c.end();
    }
  });

  test('the source fails while a range\'s reads wait: verify fails with the source\'s error, once they ended', { timeout: 60_000 }, async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const name = lab.unique('vsrc');
    // The view's name column goes through a function that raises for rows past 6 once t_<name>_broken holds a row.
    await partner.exec(
      `create table t_${name} (id bigint primary key, code text not null, first_name text, updated_at timestamp(6) not null)`,
      `create table t_${name}_broken (x int)`,
      `create function f_${name}(i bigint, v text) returns text language plpgsql stable as $$
       begin
         if i > 6 and exists (select 1 from t_${name}_broken) then raise exception 'partner went away at row %', i; end if;
         return v;
       end $$`,
      `create view v_${name} as select id, code, f_${name}(id, first_name) as first_name, updated_at from t_${name}`,
      `insert into t_${name} select g, 'e' || g, 'n' || g, now() - interval '600 second' + g * interval '1 second' from generate_series(1, 30) g`,
    );
    await partner.grantReadOnly();
    const connector = await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0', body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: code, first_name: first_name } }
` });
    expect(await lab.pull(store, connector)).toMatchObject([{ status: 'succeeded', rowsSent: 30 }]);
    await partner.exec(`insert into t_${name}_broken values (1)`);

    const a = await session(store);
    try {
      await a.c.query('begin');
      await a.c.query('lock table delivered in access exclusive mode');
      let settled = false;
      const verifying = verifyConnector({ store: store.db, connector, log: testLog, pageSize: 5 }).finally(() => (settled = true));
      verifying.catch(() => undefined);
      // Range 1 (rows 1-4) waits on its digest read; the second page (rows 5-9) fails at the partner.
      await until(async () => (await waitingOn(a.c, 'delivered', [a.pid])) > 0);
      await Promise.race([verifying.catch(() => undefined), sleep(2_000)]);
      const settledWhileReadWaited = settled;
      await a.c.query('commit');
      await expect(verifying).rejects.toThrow(/partner went away/);
      expect(settledWhileReadWaited).toBe(false);
      // Its run is recorded failed, and nothing of it is left on the store.
      const [run] = await store.db.selectFrom('runs').select(['status', 'error']).where('connector_id', '=', connector.id)
        .where('kind', '=', 'verify').execute();
      expect(run).toMatchObject({ status: 'failed', error: expect.stringMatching(/partner went away/) });
    } finally {
      await a.c.query('rollback').catch(() => undefined);
      await a.c.end();
    }
  });

  test('a range\'s reads fail while the next range\'s wait: verify fails once those ended', { timeout: 60_000 }, async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const name = lab.unique('vnext');
    // Range 1 (rows 1-4) holds only rows that do not map: compared row by row, it looks up the quarantine and
    // checks no record of the built-in store. Range 2 (rows 5-9) checks its records in `resources`.
    await lab.view(partner, name, 'id bigint primary key, phone text, updated_at timestamptz not null',
      `select g, case when g <= 4 then '12' else '415 555 01' || lpad(g::text, 2, '0') end, now() - interval '1 hour' + g * interval '1 second' from generate_series(1, 30) g`);
    const connector = await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0', body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, reject_threshold: 1,
      fields: { id: id, phone: { column: phone, transform: [{ phone_e164: { region: US } }] } } }
` });
    expect(await lab.pull(store, connector)).toMatchObject([{ status: 'succeeded', rowsRejected: 4 }]);
    await store.db.schema.alterTable('rejected_records').renameTo('rejected_records_away').execute();

    const a = await session(store);
    try {
      await a.c.query('begin');
      await a.c.query('lock table resources in access exclusive mode');
      let settled = false;
      const verifying = verifyConnector({ store: store.db, connector, log: testLog, pageSize: 5 }).finally(() => (settled = true));
      verifying.catch(() => undefined);
      await until(async () => (await waitingOn(a.c, 'resources', [a.pid])) > 0);
      await Promise.race([verifying.catch(() => undefined), sleep(2_000)]);
      const settledWhileReadWaited = settled;
      await a.c.query('commit');
      await expect(verifying).rejects.toThrow(/rejected_records/);
      expect(settledWhileReadWaited).toBe(false);
    } finally {
      await a.c.query('rollback').catch(() => undefined);
      await a.c.end();
      await store.db.schema.alterTable('rejected_records_away').renameTo('rejected_records').execute().catch(() => undefined);
    }
  });

  test('cancelled under a rate cap while a range\'s reads wait: RP_RUN_CANCELLED once they ended, nothing left on the store', { timeout: 60_000 }, async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const name = lab.unique('vstop');
    await lab.view(partner, name, 'id bigint primary key, first_name text, updated_at timestamptz not null',
      `select g, 'n' || g, now() - interval '1 hour' + g * interval '1 second' from generate_series(1, 60) g`);
    const connector = await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0', body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: id, first_name: first_name } }
` });
    expect(await lab.pull(store, connector)).toMatchObject([{ status: 'succeeded', rowsSent: 60 }]);
    const a = await session(store);
    try {
      await a.c.query('begin');
      await a.c.query('lock table resources in access exclusive mode');
      const stop = new AbortController();
      let settled = false;
      const verifying = verifyConnector({ store: store.db, connector, log: testLog, pageSize: 5, maxRowsPerSecond: 10, signal: stop.signal })
        .finally(() => (settled = true));
      verifying.catch(() => undefined);
      await until(async () => (await waitingOn(a.c, 'resources', [a.pid])) > 0);
      stop.abort();
      await Promise.race([verifying.catch(() => undefined), sleep(2_000)]);
      const settledWhileReadWaited = settled;
      await a.c.query('commit');
      await expect(verifying).rejects.toMatchObject({ code: 'RP_RUN_CANCELLED' });
      expect(settledWhileReadWaited).toBe(false);
      // Nothing of the verify still runs on the store.
      const active = await a.c.query(`select query from pg_stat_activity where datname = current_database() and state <> 'idle' and pid <> $1`, [a.pid]);
      expect(active.rows).toEqual([]);
      const [run] = await store.db.selectFrom('runs').select(['status', 'error_code']).where('connector_id', '=', connector.id)
        .where('kind', '=', 'verify').execute();
      expect(run).toMatchObject({ status: 'failed', error_code: 'RP_RUN_CANCELLED' });
    } finally {
      await a.c.query('rollback').catch(() => undefined);
      await a.c.end();
    }
  });
});
