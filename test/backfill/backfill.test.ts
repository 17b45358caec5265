/**
 * Backfills from real PostgreSQL and MariaDB views: what lands must equal the view, across
 * chunk boundaries, a cancel and resume, updates racing the backfill, and the source's
 * connection cap. A chunk reads like a pull (keyset pages, each its own short transaction
 * under the settle ceiling), and a backfill from the first row seeds the watermark.
 */
import mysql from 'mysql2/promise';
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { backfillProgress, listBackfills } from '../../src/backfill/backfill-progress.ts';
import { cancelBackfill, resumeBackfill, startBackfill, type BackfillRequest } from '../../src/backfill/run-backfill.ts';
import { main } from '../../src/cli/program.ts';
import { loadWatermark } from '../../src/store/delivery-state.ts';
import type { RegisteredConnector } from '../../src/store/connector-registry.ts';
import { openAdminTransaction } from '../helpers/admin-transaction.ts';
import { RO_USER, TEST_DIALECTS, type Partner } from '../helpers/partner.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { readResources } from '../helpers/resources.ts';
import { waitFor } from '../scheduler/ops-fixtures.ts';
import { describe, expect, test, type Lab, type LabStore } from '../fixture.ts';

for (const dialect of TEST_DIALECTS) {
  describe(`backfill from ${dialect}`, () => {
    /** A table + view of `rows` generated rows (7 share each millisecond, in 2024), indexed on (cursor, key) as partners are asked to, and a connector on it. */
    async function setup(lab: Lab, rows: number, options: { maxConnections?: number; schedule?: boolean; settle?: number } = {}) {
      const partner = await lab.partner(dialect);
      const store = await lab.store();
      const id = lab.unique('bf');
      const t = partner.types;
      const generate = dialect === 'postgres'
        ? `select g, 'u' || g || '@x.io', 'n' || g, timestamptz '2024-01-01 00:00:00+00' + (g / 7) * interval '1 millisecond' from generate_series(1, ${rows}) g`
        : `select seq, concat('u', seq, '@x.io'), concat('n', seq), timestamp '2024-01-01 00:00:00' + interval (seq div 7) * 1000 microsecond from seq_1_to_${rows}`;
      await lab.view(partner, id, `id ${t.bigint} primary key, email ${t.text}, name ${t.text}, updated_at ${t.timestamp} not null`,
        `(id, email, name, updated_at) ${generate}`);
      await partner.exec(`create index t_${id}_cursor on t_${id} (updated_at, id)`);
      const connector = await lab.connector(store, partner, {
        id, tenant: `tenant-${id}`,
        source: `settle_seconds: ${options.settle ?? 0}\nmax_connections: ${options.maxConnections ?? 2}`,
        body: `${options.schedule ? "schedule: '*/5 * * * *'\n" : ''}streams:
  - { name: customers, view: v_${id}, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: id, email: email, first_name: name } }
`,
      });
      return { id, partner, store, connector };
    }

    async function backfill(store: LabStore, connector: RegisteredConnector, request: Omit<BackfillRequest, 'connector'> = {}) {
      const handle = await startBackfill({ store: store.db, log: testLog }, { connector: connector.id, ...request });
      return { id: handle.id, progress: await handle.done };
    }

    /** The view's rows (optionally a cursor range) as the records they must become, one text per record. */
    async function expected(partner: Partner, id: string, where = '1=1'): Promise<string[]> {
      const rows = await partner.query<{ id: string | number; email: string; name: string }>(
        `select id, email, name from v_${id} where ${where} order by id`);
      return rows.map((r) => JSON.stringify({ id: String(r.id), email: r.email, first_name: r.name }));
    }

    async function delivered(store: LabStore, connector: RegisteredConnector): Promise<string[]> {
      return (await readResources(store.db, connector.tenant, 'contacts'))
        .map((b) => JSON.stringify({ id: b.id, email: b.email, first_name: b.first_name }));
    }

    async function backfillRuns(store: LabStore, connector: RegisteredConnector) {
      return store.db.selectFrom('runs').select(['status', 'rows_read', 'error_code'])
        .where('connector_id', '=', connector.id).where('kind', '=', 'backfill').execute();
    }

    /**
     * A lock on the view's table, held by an admin session of the test: while it is held, every
     * statement reading the view waits on it. `waiting()` counts the read-only user's sessions
     * waiting on it, `sessions()` all its client sessions of the database (PostgreSQL's parallel
     * query workers are not connections).
     */
    async function tableGate(partner: Partner, table: string) {
      if (dialect === 'postgres') {
        const client = new pg.Client({ connectionString: partner.url });
        await client.connect();
        await client.query('begin');
        // Granted once the pages in flight end (each is its own short transaction); the next ones queue behind it.
        await client.query(`lock table ${table} in access exclusive mode`);
        const count = async (where: string) => {
          // Inside a transaction, pg_stat_activity is a snapshot taken once: taken anew for each count.
          await client.query('select pg_stat_clear_snapshot()');
          return Number((await client.query(`select count(*) as n from pg_stat_activity
            where usename = $1 and datname = $2 and backend_type = 'client backend'${where}`, [RO_USER, partner.database])).rows[0].n);
        };
        return {
          waiting: () => count(" and wait_event_type = 'Lock'"),
          sessions: () => count(''),
          open: async () => { await client.query('commit'); await client.end(); },
        };
      }
      const conn = await mysql.createConnection({ uri: partner.url });
      await conn.query(`lock tables ${table} write`);
      const count = async (where: string) => Number(((await conn.query(
        `select count(*) as n from information_schema.processlist where user = ? and db = ?${where}`, [RO_USER, partner.database]))[0] as { n: number }[])[0]!.n);
      return {
        waiting: () => count(" and state = 'Waiting for table metadata lock'"),
        sessions: () => count(''),
        open: async () => { await conn.query('unlock tables'); await conn.end(); },
      };
    }

    test('backfills 200k rows in parallel chunks, equal to the view, within max_connections, and seeds the watermark', async ({ lab }) => {
      const { id, partner, store, connector } = await setup(lab, 200_000, { maxConnections: 3 });
      // Planned (startBackfill returns once the chunks are planned), then every chunk's next page
      // stops at the gate: exactly max_connections sessions wait there, and no fourth arrives.
      const handle = await startBackfill({ store: store.db, log: testLog }, { connector: connector.id, chunks: 6 });
      const gate = await tableGate(partner, `t_${id}`);
      try {
        await waitFor('three sessions at the gate', async () => (await gate.waiting()) >= 3);
        await sleep(500);
        expect(await gate.waiting()).toBe(3);
        expect(await gate.sessions()).toBe(3);
      } finally {
        await gate.open();
      }
      const progress = await handle.done;
      expect(progress).toMatchObject({ state: 'succeeded', rowsDone: 200_000, chunks: { total: 6, succeeded: 6 } });
      expect(await delivered(store, connector)).toEqual(await expected(partner, id));
      // Covering the stream from its first row, it leaves the next pull only what changed since it began.
      const watermark = await loadWatermark(store.db, { connectorId: connector.id, stream: 'customers' });
      expect(watermark).toMatchObject({ key: [] });
      expect(watermark!.cursor > '2026').toBe(true);
      const [pull] = await lab.pull(store, connector);
      expect(pull).toMatchObject({ status: 'succeeded', rowsRead: 0 });
    }, 120_000);

    test('respects --from/--to, splits ties at chunk boundaries without loss or overlap, and does not seed', async ({ lab }) => {
      const { id, partner, store, connector } = await setup(lab, 3_000);
      // 7 rows per millisecond; the bounds and the even split points (every 50 ms) sit inside ties.
      const { progress } = await backfill(store, connector, {
        from: '2024-01-01 00:00:00.100', to: '2024-01-01 00:00:00.300', chunks: 4, checkpointRows: 9,
      });
      const zone = dialect === 'postgres' ? '+00' : '';
      const where = `updated_at >= '2024-01-01 00:00:00.100${zone}' and updated_at <= '2024-01-01 00:00:00.300${zone}'`;
      const want = await expected(partner, id, where);
      expect(want).toHaveLength(201 * 7);
      expect(await delivered(store, connector)).toEqual(want);
      // Each row was delivered by exactly one chunk.
      expect(progress).toMatchObject({ state: 'succeeded', rowsDone: want.length, chunks: { total: 4 } });
      const runs = await backfillRuns(store, connector);
      expect(runs.reduce((s, r) => s + Number(r.rows_read), 0)).toBe(want.length);
      expect(await loadWatermark(store.db, { connectorId: connector.id, stream: 'customers' })).toBeUndefined();
    });

    test('ends at the newest values when rows change during the backfill and a pull runs beside it', async ({ lab }) => {
      const { id, partner, store, connector } = await setup(lab, 4_000, { schedule: true, settle: 1 });
      const handle = await startBackfill({ store: store.db, log: testLog }, {
        connector: connector.id, chunks: 2, checkpointRows: 200, maxRowsPerSecond: 4000,
      });
      // Rows behind and ahead of the chunks' positions change, some twice.
      await new Promise((r) => setTimeout(r, 300));
      await partner.exec(`update t_${id} set name = concat('early-', name), updated_at = ${partner.nowMinus(0.2)} where id % 97 = 0`);
      const pull = await lab.pull(store, connector);
      expect(pull[0]!.status).toBe('succeeded');
      await partner.exec(`update t_${id} set email = concat('late-', email), updated_at = ${partner.nowMinus(0.1)} where id % 89 = 0`);
      expect(await handle.done).toMatchObject({ state: 'succeeded' });
      // Once the settle window has passed, a pull reads what the backfill left above its ceiling.
      await new Promise((r) => setTimeout(r, 1_200));
      await lab.pull(store, connector);
      expect(await delivered(store, connector)).toEqual(await expected(partner, id));
    });

    test('ends under churn faster than its rate cap: rows changed after planning are the pulls\' (the last chunk stops at the seed)', async ({ lab }) => {
      const { id, partner, store, connector } = await setup(lab, 600);
      // One chunk capped at 100 rows/s, while the partner moves 120 rows to the newest cursor every 100 ms (600 rows/s):
      // a chunk open above would keep meeting rows it has not read yet.
      const handle = await startBackfill({ store: store.db, log: testLog }, { connector: connector.id, chunks: 1, checkpointRows: 20, maxRowsPerSecond: 100 });
      let churning = true;
      let round = 0;
      const churn = (async () => {
        while (churning) {
          await partner.exec(`update t_${id} set name = concat('c${round}-', id), updated_at = ${partner.nowMinus(0)} where id % 5 = ${round % 5}`);
          round++;
          await sleep(100);
        }
      })();
      const outcome = await Promise.race([handle.done, sleep(30_000).then(() => 'still running after 30 s')]);
      churning = false;
      await churn;
      expect(outcome).toMatchObject({ state: 'succeeded' });
      expect(round).toBeGreaterThan(5);
      // The pull reads what changed since the seed; then the store equals the view.
      const [pull] = await lab.pull(store, connector);
      expect(pull).toMatchObject({ status: 'succeeded' });
      expect(await delivered(store, connector)).toEqual(await expected(partner, id));
    });

    test('reads no row that has not settled: one stamped within the settle window waits for the pulls', async ({ lab }) => {
      const { id, partner, store, connector } = await setup(lab, 50, { settle: 2 });
      // A row just written: a transaction that stamped it may not have committed everything yet.
      await partner.exec(`update t_${id} set name = 'fresh', updated_at = ${partner.nowMinus(0)} where id = 7`);
      const { progress } = await backfill(store, connector);
      expect(progress).toMatchObject({ state: 'succeeded', rowsDone: 49 });
      expect((await readResources(store.db, connector.tenant, 'contacts')).map((r) => r.id)).not.toContain('7');
      await new Promise((r) => setTimeout(r, 2_200));
      await lab.pull(store, connector);
      expect(await delivered(store, connector)).toEqual(await expected(partner, id));
    });

    test('stops on --cancel after the current pages and resumes from the checkpoints', async ({ lab }) => {
      const { id, partner, store, connector } = await setup(lab, 3_000);
      const deps = { store: store.db, log: testLog };
      const handle = await startBackfill(deps, { connector: connector.id, chunks: 2, checkpointRows: 100, maxRowsPerSecond: 1000 });
      // ~3 s at this rate: the owner sees the cancel on its next heartbeat (1 s), well before the end.
      await new Promise((r) => setTimeout(r, 300));
      expect(await cancelBackfill(store.db, handle.id)).toMatchObject({ state: 'cancelled' });
      const stopped = await handle.done;
      expect(stopped.state).toBe('cancelled');
      expect(stopped.rowsDone).toBeLessThan(3_000);
      await expect(resumeBackfill(deps, handle.id).then((h) => h.done)).resolves.toMatchObject({ state: 'succeeded', rowsDone: 3_000 });
      expect(await delivered(store, connector)).toEqual(await expected(partner, id));
    });

    test('resumes at once after kill -9 from the chunk checkpoints, re-reading under one checkpoint interval per chunk', async ({ lab }) => {
      const { id, partner, store, connector } = await setup(lab, 12_000, { maxConnections: 2 });
      const args = ['backfill', connector.id, '--chunks', '3', '--checkpoint-rows', '500', '--max-rows-per-second', '8000'];
      const { child, result } = lab.spawnCli(args, { env: { DATABASE_URL: store.url, LOG_LEVEL: 'silent' } });
      for (;;) {
        const b = (await listBackfills(store.db)).find((p) => p.connector === connector.id);
        if (b && b.rowsDone >= 2000) break;
        if (child.exitCode !== null) throw new Error(`the backfill ended before it was killed: ${(await result).stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      child.kill('SIGKILL');
      await result;
      // Its hold ended with its process: the backfill shows as interrupted as soon as the store has
      // seen the connection close (milliseconds; a busy machine, a little more), not after a lease timeout.
      const killedAt = Date.now();
      let killed = (await listBackfills(store.db)).find((p) => p.connector === connector.id);
      while (killed?.state !== 'interrupted' && Date.now() - killedAt < 2_000) {
        await new Promise((r) => setTimeout(r, 20));
        killed = (await listBackfills(store.db)).find((p) => p.connector === connector.id);
      }
      expect(killed).toMatchObject({ state: 'interrupted' });
      expect(killed!.rowsDone).toBeLessThan(12_000);

      // The CLI's own resume path, in this process (a second child would only add start-up time).
      const saved = { url: process.env.DATABASE_URL, level: process.env.LOG_LEVEL };
      Object.assign(process.env, { DATABASE_URL: store.url, LOG_LEVEL: 'silent' });
      try {
        expect(await main(['backfill', '--resume', killed!.id, '--json'])).toBe(0);
      } finally {
        for (const [k, v] of [['DATABASE_URL', saved.url], ['LOG_LEVEL', saved.level]] as const) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
      expect(await backfillProgress(store.db, killed!.id)).toMatchObject({ state: 'succeeded', rowsDone: 12_000 });

      expect(await delivered(store, connector)).toEqual(await expected(partner, id));
      const runs = await backfillRuns(store, connector);
      expect(runs.filter((r) => r.error_code === 'RP_RUN_ABANDONED').length).toBeGreaterThan(0);
      const reread = runs.reduce((s, r) => s + Number(r.rows_read), 0) - 12_000;
      expect(reread).toBeGreaterThanOrEqual(0);
      expect(reread).toBeLessThan(3 * 500);
      // Nothing is left to resume.
      await expect(resumeBackfill({ store: store.db, log: testLog }, killed!.id)).rejects.toMatchObject({ code: 'RP_NOT_FOUND' });
    });

    test('refuses to resume a backfill a live process runs', async ({ lab }) => {
      const { store, connector } = await setup(lab, 2_000);
      const handle = await startBackfill({ store: store.db, log: testLog }, { connector: connector.id, chunks: 1, checkpointRows: 100, maxRowsPerSecond: 2000 });
      await expect(resumeBackfill({ store: store.db, log: testLog }, handle.id)).rejects.toMatchObject({ code: 'RP_BACKFILL_BUSY' });
      expect(await handle.done).toMatchObject({ state: 'succeeded' });
    });
  });
}

describe('backfill on an integer cursor', () => {
  // Found by the review of the one delivery order: the seed (the largest cursor) passed an id
  // whose transaction was still open, which the next pull would otherwise have read.
  test('beside a watermark, seeds nothing: an id committed after the backfill read past it is pulled', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const name = lab.unique('is');
    await lab.view(partner, name, 'id bigint primary key, email text, seq bigint not null', `select g, 'u' || g || '@x.io', g from generate_series(1, 100) g`);
    const connector = await lab.connector(store, partner, { id: name, body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: seq, fields: { id: id, email: email } }
` });
    await lab.pull(store, connector);
    // An order is being written: its id (101) is taken, its transaction still open.
    const late = await openAdminTransaction(partner);
    await late.run(`insert into t_${name} values (101, 'late@x.io', 101)`);
    await partner.exec(`insert into t_${name} select g, 'u' || g || '@x.io', g from generate_series(102, 110) g`);
    const handle = await startBackfill({ store: store.db, log: testLog }, { connector: name });
    expect(await handle.done).toMatchObject({ state: 'succeeded', rowsDone: 109 });
    expect(await loadWatermark(store.db, { connectorId: name, stream: 'people' })).toEqual({ cursor: '100', key: ['100'] });
    await late.commit();
    await lab.pull(store, connector);
    expect((await readResources(store.db, connector.tenant, 'contacts')).map((r) => Number(r.id)).sort((a, b) => a - b))
      .toEqual(Array.from({ length: 110 }, (_, i) => i + 1));
  });

  test('onboarding (no watermark yet) seeds the largest id, so the first pull reads only what came after', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const name = lab.unique('io');
    await lab.view(partner, name, 'id bigint primary key, email text, seq bigint not null', `select g, 'u' || g || '@x.io', g from generate_series(1, 100) g`);
    const connector = await lab.connector(store, partner, { id: name, body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: seq, fields: { id: id, email: email } }
` });
    expect(await (await startBackfill({ store: store.db, log: testLog }, { connector: name })).done).toMatchObject({ state: 'succeeded' });
    expect(await loadWatermark(store.db, { connectorId: name, stream: 'people' })).toEqual({ cursor: '100', key: [] });
    await partner.exec(`insert into t_${name} values (101, 'new@x.io', 101)`);
    // The seed is the start of 100 (before any key at it: rows can still tie there), so row 100 is read again, not sent.
    expect(await lab.pull(store, connector)).toMatchObject([{ status: 'succeeded', rowsRead: 2, rowsSent: 1, rowsUnchanged: 1 }]);
  });
});
