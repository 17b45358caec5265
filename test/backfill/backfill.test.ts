/**
 * Backfills from real PostgreSQL and MariaDB views into the built-in store: what lands must
 * equal the view, across chunk boundaries, a kill -9 and resume, updates racing the backfill,
 * and the source's connection cap.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backfillProgress, cancelBackfill, listBackfills, resumeBackfill, startBackfill, type BackfillRequest } from '../../src/backfill/run-backfill.ts';
import { main } from '../../src/cli/program.ts';
import { pullConnector } from '../../src/engine/pull-connector.ts';
import type { RegisteredConnector } from '../../src/store/connector-registry.ts';
import type { Store } from '../../src/store/open-store.ts';
import { freshPartner, RO_USER, TEST_DIALECTS, type Partner } from '../helpers/partner.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { readResources } from '../helpers/resources.ts';
import { freshStore, registerYaml } from '../helpers/store.ts';
import { freshPgDatabase } from '../helpers/databases.ts';

for (const dialect of TEST_DIALECTS) {
  describe(`backfill from ${dialect}`, () => {
    let partner: Partner;
    let store: Store;
    let storeUrl: string;
    let n = 0;

    beforeAll(async () => {
      partner = await freshPartner(dialect, `rp_bf_${dialect}`);
      storeUrl = await freshPgDatabase(`rp_bf_store_${dialect}`);
      store = await freshStore(`rp_bf_store_${dialect}`);
    });
    afterAll(async () => {
      await store?.close();
    });

    /** A table + view of `rows` generated rows (7 share each millisecond), and a connector on it. */
    async function setup(rows: number, options: { maxConnections?: number; schedule?: boolean } = {}) {
      const id = `bf${++n}`;
      const t = partner.types;
      const generate = dialect === 'postgres'
        ? `select g, 'u' || g || '@x.io', 'n' || g, timestamptz '2024-01-01 00:00:00+00' + (g / 7) * interval '1 millisecond' from generate_series(1, ${rows}) g`
        : `select seq, concat('u', seq, '@x.io'), concat('n', seq), timestamp '2024-01-01 00:00:00' + interval (seq div 7) * 1000 microsecond from seq_1_to_${rows}`;
      await partner.exec(
        `create table t_${id} (id ${t.bigint} primary key, email ${t.text}, name ${t.text}, updated_at ${t.timestamp} not null)`,
        `create view v_${id} as select id, email, name, updated_at from t_${id}`,
        `insert into t_${id} (id, email, name, updated_at) ${generate}`,
      );
      await partner.grantReadOnly();
      const connector = await registerYaml(store, id, `
tenant: tenant-${id}
${options.schedule ? "schedule: '*/5 * * * *'\n" : ''}${partner.sourceYaml(`  settle_seconds: 0\n  max_connections: ${options.maxConnections ?? 2}`)}
streams:
  - name: customers
    view: v_${id}
    schema: contacts
    primary_key: [id]
    cursor: updated_at
    fields:
      id: id
      email: email
      first_name: name
`);
      return { id, connector };
    }

    async function backfill(connector: RegisteredConnector, request: Omit<BackfillRequest, 'connector'> = {}) {
      const handle = await startBackfill({ store: store.db, log: testLog }, { connector: connector.id, ...request });
      return { id: handle.id, progress: await handle.done };
    }

    /** The view's rows (optionally a cursor range) as the records they must become, one text per record. */
    async function expected(id: string, where = '1=1'): Promise<string[]> {
      const rows = await partner.query<{ id: string | number; email: string; name: string }>(
        `select id, email, name from v_${id} where ${where} order by id`);
      return rows.map((r) => JSON.stringify({ id: String(r.id), email: r.email, first_name: r.name }));
    }

    async function delivered(connector: RegisteredConnector): Promise<string[]> {
      return (await readResources(store.db, connector.tenant, 'contacts'))
        .map((b) => JSON.stringify({ id: b.id, email: b.email, first_name: b.first_name }));
    }

    async function backfillRuns(connector: RegisteredConnector) {
      return store.db.selectFrom('runs').select(['status', 'rows_read', 'error_code'])
        .where('connector_id', '=', connector.id).where('kind', '=', 'backfill').execute();
    }

    async function roConnections(): Promise<number> {
      const sql = dialect === 'postgres'
        ? `select count(*) as n from pg_stat_activity where usename = '${RO_USER}' and datname = '${partner.database}'`
        : `select count(*) as n from information_schema.processlist where user = '${RO_USER}' and db = '${partner.database}'`;
      const [row] = await partner.query<{ n: string | number }>(sql);
      return Number(row!.n);
    }

    it('backfills 200k rows in parallel chunks, equal to the view, within max_connections', async () => {
      const { id, connector } = await setup(200_000, { maxConnections: 3 });
      let peak = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          peak = Math.max(peak, await roConnections());
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      const started = performance.now();
      const { progress } = await backfill(connector, { chunks: 6 });
      const seconds = (performance.now() - started) / 1000;
      sampling = false;
      await sampler;
      console.log(`[backfill ${dialect}] 200000 rows in ${seconds.toFixed(1)} s = ${Math.round(200_000 / seconds)} rows/s (peak ${peak} connections of 3)`);
      expect(progress).toMatchObject({ state: 'succeeded', rowsDone: 200_000, chunks: { total: 6, succeeded: 6 } });
      expect(peak).toBeGreaterThan(1);
      expect(peak).toBeLessThanOrEqual(3);
      expect(await delivered(connector)).toEqual(await expected(id));
      // The watermark is the pulls' business: a backfill leaves it alone.
      expect(await store.db.selectFrom('stream_state').selectAll().where('connector_id', '=', connector.id).execute()).toEqual([]);
    });

    it('respects --from/--to and splits ties at chunk boundaries without loss or overlap', async () => {
      const { id, connector } = await setup(3_000);
      // 7 rows per millisecond; the bounds and the even split points (every 50 ms) sit inside ties.
      const { progress } = await backfill(connector, {
        from: '2024-01-01 00:00:00.100', to: '2024-01-01 00:00:00.300', chunks: 4, checkpointRows: 9,
      });
      const zone = dialect === 'postgres' ? '+00' : '';
      const where = `updated_at >= '2024-01-01 00:00:00.100${zone}' and updated_at <= '2024-01-01 00:00:00.300${zone}'`;
      const want = await expected(id, where);
      expect(want).toHaveLength(201 * 7);
      expect(await delivered(connector)).toEqual(want);
      // Each row was delivered by exactly one chunk.
      expect(progress).toMatchObject({ state: 'succeeded', rowsDone: want.length, chunks: { total: 4 } });
      const runs = await backfillRuns(connector);
      expect(runs.reduce((s, r) => s + Number(r.rows_read), 0)).toBe(want.length);
    });

    it('ends at the newest values when rows change during the backfill and a pull follows', async () => {
      const { id, connector } = await setup(4_000, { schedule: true });
      const handle = await startBackfill({ store: store.db, log: testLog }, {
        connector: connector.id, chunks: 2, checkpointRows: 200, maxRowsPerSecond: 4000,
      });
      // Rows behind and ahead of the chunks' positions change, some twice.
      await new Promise((r) => setTimeout(r, 300));
      await partner.exec(`update t_${id} set name = concat('early-', name), updated_at = ${partner.nowMinus(2)} where id % 97 = 0`);
      const pull = await pullConnector({ store: store.db, connector, log: testLog });
      expect(pull[0]!.status).toBe('succeeded');
      await partner.exec(`update t_${id} set email = concat('late-', email), updated_at = ${partner.nowMinus(1)} where id % 89 = 0`);
      expect(await handle.done).toMatchObject({ state: 'succeeded' });
      await pullConnector({ store: store.db, connector, log: testLog });
      expect(await delivered(connector)).toEqual(await expected(id));
    });

    it('stops on --cancel after the current pages and resumes from the checkpoints', async () => {
      const { id, connector } = await setup(3_000);
      const deps = { store: store.db, log: testLog };
      const handle = await startBackfill(deps, { connector: connector.id, chunks: 2, checkpointRows: 100, maxRowsPerSecond: 1000 });
      // ~3 s at this rate: the owner sees the cancel on its next heartbeat (1 s), well before the end.
      await new Promise((r) => setTimeout(r, 300));
      expect(await cancelBackfill(store.db, handle.id)).toMatchObject({ state: 'cancelled' });
      const stopped = await handle.done;
      expect(stopped.state).toBe('cancelled');
      expect(stopped.rowsDone).toBeLessThan(3_000);
      await expect(resumeBackfill(deps, handle.id).then((h) => h.done)).resolves.toMatchObject({ state: 'succeeded', rowsDone: 3_000 });
      expect(await delivered(connector)).toEqual(await expected(id));
    });

    it('resumes after kill -9 from the chunk checkpoints, re-reading under one checkpoint interval per chunk', async () => {
      const { id, connector } = await setup(12_000, { maxConnections: 2 });
      const env = { ...process.env, DATABASE_URL: storeUrl, LOG_LEVEL: 'silent' };
      const args = ['backfill', connector.id, '--chunks', '3', '--checkpoint-rows', '500', '--max-rows-per-second', '8000'];
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      for (;;) {
        const b = (await listBackfills(store.db)).find((p) => p.connector === connector.id);
        if (b && b.rowsDone >= 2000) break;
        if (child.exitCode !== null) throw new Error(`the backfill ended before it was killed: ${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      child.kill('SIGKILL');
      await exited;
      const killed = (await listBackfills(store.db)).find((p) => p.connector === connector.id);
      expect(killed).toMatchObject({ state: 'interrupted' });
      expect(killed!.rowsDone).toBeLessThan(12_000);

      // The CLI's own resume path, in this process (a second child would only add start-up time).
      Object.assign(process.env, { DATABASE_URL: storeUrl, LOG_LEVEL: 'silent' });
      try {
        expect(await main(['backfill', '--resume', killed!.id, '--json'])).toBe(0);
      } finally {
        delete process.env.DATABASE_URL;
        delete process.env.LOG_LEVEL;
      }
      expect(await backfillProgress(store.db, killed!.id)).toMatchObject({ state: 'succeeded', rowsDone: 12_000 });

      expect(await delivered(connector)).toEqual(await expected(id));
      const runs = await backfillRuns(connector);
      expect(runs.filter((r) => r.error_code === 'RP_RUN_ABANDONED').length).toBeGreaterThan(0);
      const reread = runs.reduce((s, r) => s + Number(r.rows_read), 0) - 12_000;
      expect(reread).toBeGreaterThanOrEqual(0);
      expect(reread).toBeLessThan(3 * 500);
      // The killed process cannot run it any more, and nothing is left to resume.
      await expect(resumeBackfill({ store: store.db, log: testLog }, killed!.id)).rejects.toMatchObject({ code: 'RP_NOT_FOUND' });
    });
  });
}
