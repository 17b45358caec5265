/**
 * Review of "the last chunk ends at the seed" (ca9649d), against real PostgreSQL and MariaDB:
 * every case ends with a pull after the settle window and asserts that the store equals the
 * view. Rows the bounded last chunk no longer reads (above the seed) must be the pulls':
 * late commits inside the settle window, a watermark ahead of and behind the seed, --from
 * without seeding, --to, a cancel and resume with churn between, coarse cursors with ties at
 * the seed, wall-clock cursors in another zone, integer cursors (onboarding and not), a seed
 * below the view's first row, and pulls beside the backfill.
 */
import mysql from 'mysql2/promise';
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { cancelBackfill, resumeBackfill, startBackfill, type BackfillRequest } from '../../src/backfill/run-backfill.ts';
import { loadWatermark } from '../../src/store/delivery-state.ts';
import type { RegisteredConnector } from '../../src/store/connector-registry.ts';
import { TEST_DIALECTS, type Partner } from '../helpers/partner.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test, type Lab, type LabStore } from '../fixture.ts';

type CursorType = 'instant' | 'seconds' | 'local' | 'integer';

for (const dialect of TEST_DIALECTS) {
  describe(`bounded last chunk, adversarial (${dialect})`, () => {
    const pgType = { instant: 'timestamptz', seconds: 'timestamp(0)', local: 'timestamp(6)', integer: 'bigint' } as const;
    const myType = { instant: 'datetime(6)', seconds: 'datetime', local: 'datetime(6)', integer: 'bigint' } as const;

    /** A table and view (`rows` old rows, a cursor of `type`), indexed on (cursor, id), and a connector. */
    async function setup(lab: Lab, rows: number, o: { type?: CursorType; settle?: number; lookback?: number; timezone?: string } = {}) {
      const type = o.type ?? 'instant';
      const partner = await lab.partner(dialect);
      const store = await lab.store();
      const id = lab.unique('ba');
      const col = (dialect === 'postgres' ? pgType : myType)[type];
      const cursor = type === 'integer' ? 'g' : dialect === 'postgres'
        ? `timestamp${type === 'instant' ? 'tz' : ''} '2024-01-01 00:00:00' + (g / 7) * interval '1 millisecond'`
        : `timestamp '2024-01-01 00:00:00' + interval (g div 7) * 1000 microsecond`;
      const fill = dialect === 'postgres'
        ? `select g, 'n' || g, ${cursor} from generate_series(1, ${rows}) g`
        : `select seq, concat('n', seq), ${cursor.replaceAll('g', 'seq')} from seq_1_to_${rows}`;
      await lab.view(partner, id, `id bigint primary key, name ${partner.types.text}, cur ${col} not null`, `(id, name, cur) ${fill}`);
      await partner.exec(`create index t_${id}_cursor on t_${id} (cur, id)`);
      const register = (settle: number) => lab.connector(store, partner, {
        id, tenant: `tenant-${id}`,
        source: `settle_seconds: ${settle}\nmax_connections: 3${o.timezone ? `\ntimezone: ${o.timezone}` : ''}`,
        body: `streams:
  - { name: s, view: v_${id}, schema: contacts, primary_key: [id], cursor: cur, fields: { id: id, first_name: name }${o.lookback ? `, lookback_seconds: ${o.lookback}` : ''} }
`,
      });
      const connector = await register(o.settle ?? 0);
      return { id, partner, store, connector, register, type };
    }

    /** SQL for "now" as the cursor the writer stamps (an instant in UTC, or the wall clock of `zone`). */
    function stamp(partner: Partner, type: CursorType, zone = 'UTC', minus = 0): string {
      if (type === 'integer') throw new Error('no clock for integers');
      if (partner.dialect === 'postgres') {
        const now = `clock_timestamp() - interval '${minus} seconds'`;
        return type === 'instant' ? now : `(${now}) at time zone '${zone}'`;
      }
      const now = `utc_timestamp(6) - interval ${minus} second`;
      return zone === 'UTC' ? now : `convert_tz(${now}, '+00:00', '${zoneOffset(zone)}')`;
    }

    /** The zone's offset now, as MariaDB's convert_tz takes it (its zone tables may not be loaded). */
    function zoneOffset(zone: string): string {
      const part = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' }).formatToParts(new Date())
        .find((p) => p.type === 'timeZoneName')!.value;
      return part === 'GMT' ? '+00:00' : part.replace('GMT', '');
    }

    async function expected(partner: Partner, id: string): Promise<string[]> {
      const rows = await partner.query<{ id: string | number; name: string }>(`select id, name from v_${id} order by id`);
      return rows.map((r) => JSON.stringify({ id: String(r.id), first_name: r.name }));
    }

    async function delivered(store: LabStore, connector: RegisteredConnector): Promise<string[]> {
      return (await readResources(store.db, connector.tenant, 'contacts')).map((b) => JSON.stringify({ id: b.id, first_name: b.first_name }));
    }

    async function backfill(store: LabStore, connector: RegisteredConnector, request: Omit<BackfillRequest, 'connector'> = {}) {
      return startBackfill({ store: store.db, log: testLog }, { connector: connector.id, ...request });
    }

    /** Keeps moving rows to the newest cursor (or new ids) until stopped. */
    function churn(partner: Partner, id: string, type: CursorType, zone = 'UTC', every = 60) {
      let on = true;
      let round = 0;
      const done = (async () => {
        while (on) {
          if (type === 'integer') {
            const base = 1_000_000 + round * 10;
            const values = Array.from({ length: 5 }, (_, i) => `(${base + i}, 'new${base + i}', ${base + i})`).join(', ');
            await partner.exec(`insert into t_${id} (id, name, cur) values ${values}`);
          } else {
            await partner.exec(`update t_${id} set name = concat('c${round}-', id), cur = ${stamp(partner, type, zone)} where id % 7 = ${round % 7}`);
          }
          round++;
          await sleep(every);
        }
      })();
      return { stop: async () => { on = false; await done; return round; } };
    }

    async function settleThenPull(lab: Lab, store: LabStore, connector: RegisteredConnector, settle: number) {
      await sleep(settle * 1000 + 1200);
      const pulls = await lab.pull(store, connector);
      for (const p of pulls) expect(p.error).toBeUndefined();
      return pulls;
    }

    test('onboarding: rows updated during and right after planning (settle 2) reach the store with the next pull', async ({ lab }) => {
      const { id, partner, store, connector } = await setup(lab, 3000, { settle: 2 });
      const c = churn(partner, id, 'instant');
      await sleep(300);
      const handle = await backfill(store, connector, { chunks: 3, checkpointRows: 50, maxRowsPerSecond: 2000 });
      expect(await handle.done).toMatchObject({ state: 'succeeded' });
      await c.stop();
      await settleThenPull(lab, store, connector, 2);
      expect(await delivered(store, connector)).toEqual(await expected(partner, id));
    });

    test('a late commit inside the settle window: stamped before the planning, committed after it', async ({ lab }) => {
      const { id, partner, store, connector } = await setup(lab, 500, { settle: 3 });
      // An admin transaction stamps rows now and commits 1.5 s later, after the backfill is planned.
      const stamped = `update t_${id} set name = concat('late-', id), cur = ${stamp(partner, 'instant')} where id % 3 = 0`;
      let commit: () => Promise<void>;
      if (dialect === 'postgres') {
        const client = new pg.Client({ connectionString: partner.url });
        await client.connect();
        await client.query('begin');
        await client.query(stamped);
        commit = async () => { await client.query('commit'); await client.end(); };
      } else {
        const conn = await mysql.createConnection({ uri: partner.url });
        await conn.query("set time_zone = '+00:00'");
        await conn.query('begin');
        await conn.query(stamped);
        commit = async () => { await conn.query('commit'); await conn.end(); };
      }
      await sleep(200);
      const handle = await backfill(store, connector, { chunks: 2, checkpointRows: 20, maxRowsPerSecond: 1000 });
      await sleep(1300);
      await commit();
      expect(await handle.done).toMatchObject({ state: 'succeeded' });
      await settleThenPull(lab, store, connector, 3);
      expect(await delivered(store, connector)).toEqual(await expected(partner, id));
    });

    test('a watermark ahead of the seed (settle raised after the pulls): no seeding, the pulls keep the rows above it', async ({ lab }) => {
      const { id, partner, store, connector, register } = await setup(lab, 1500, { settle: 0 });
      await partner.exec(`update t_${id} set name = concat('recent-', id), cur = ${stamp(partner, 'instant', 'UTC', 1)} where id % 11 = 0`);
      await lab.pull(store, connector);
      const ahead = await loadWatermark(store.db, { connectorId: connector.id, stream: 's' });
      const raised = await register(2);
      const c = churn(partner, id, 'instant');
      const handle = await backfill(store, raised, { chunks: 2, checkpointRows: 40, maxRowsPerSecond: 3000 });
      expect(await handle.done).toMatchObject({ state: 'succeeded' });
      await c.stop();
      // The seed (now - 2 s) is below the pull's watermark: it stays where the pull left it, or ahead.
      const after = await loadWatermark(store.db, { connectorId: connector.id, stream: 's' });
      expect(after!.cursor >= ahead!.cursor).toBe(true);
      await settleThenPull(lab, store, raised, 2);
      expect(await delivered(store, raised)).toEqual(await expected(partner, id));
    });

    test('a watermark behind the seed, pulls beside the backfill and after it, with --from (no seeding)', async ({ lab }) => {
      const { id, partner, store, connector } = await setup(lab, 3000, { settle: 1 });
      await lab.pull(store, connector);
      const c = churn(partner, id, 'instant');
      const handle = await backfill(store, connector, { from: '2024-01-01 00:00:00.100', chunks: 3, checkpointRows: 30, maxRowsPerSecond: 1500 });
      let pulls = 0;
      for (;;) {
        const done = await Promise.race([handle.done, sleep(250).then(() => undefined)]);
        if (done) { expect(done).toMatchObject({ state: 'succeeded' }); break; }
        for (const p of await lab.pull(store, connector)) expect(p.error).toBeUndefined();
        pulls++;
      }
      await c.stop();
      expect(pulls).toBeGreaterThan(0);
      await settleThenPull(lab, store, connector, 1);
      expect(await delivered(store, connector)).toEqual(await expected(partner, id));
    });

    test('--to past the seed, then churn: the pulls read what changed', async ({ lab }) => {
      const { id, partner, store, connector } = await setup(lab, 1500, { settle: 1 });
      const c = churn(partner, id, 'instant');
      const handle = await backfill(store, connector, { to: '2099-01-01', chunks: 2, checkpointRows: 50 });
      // Bounded by its own wall-clock budget: a chunk open to 2099 under churn may chase rows (not this change's).
      const outcome = await Promise.race([handle.done, sleep(20_000).then(() => undefined)]);
      await c.stop();
      expect(outcome ?? (await handle.done)).toMatchObject({ state: 'succeeded' });
      await settleThenPull(lab, store, connector, 1);
      expect(await delivered(store, connector)).toEqual(await expected(partner, id));
    });

    test('cancelled, churned, resumed: rows moved above the seed between the runs are the pulls\'', async ({ lab }) => {
      const { id, partner, store, connector } = await setup(lab, 3000, { settle: 1 });
      const deps = { store: store.db, log: testLog };
      const handle = await backfill(store, connector, { chunks: 2, checkpointRows: 50, maxRowsPerSecond: 800 });
      await sleep(400);
      await cancelBackfill(store.db, handle.id);
      expect(await handle.done).toMatchObject({ state: 'cancelled' });
      const c = churn(partner, id, 'instant');
      await sleep(500);
      const resumed = await resumeBackfill(deps, handle.id);
      expect(await resumed.done).toMatchObject({ state: 'succeeded' });
      await c.stop();
      await settleThenPull(lab, store, connector, 1);
      expect(await delivered(store, connector)).toEqual(await expected(partner, id));
    });

    test('second-grain cursor: ties of many keys at the seed\'s second, rows updated in it as the backfill is planned', async ({ lab }) => {
      const { id, partner, store, connector } = await setup(lab, 2000, { type: 'seconds', settle: 0 });
      // Every row in two seconds just before now: the seed's second is full of ties.
      await partner.exec(`update t_${id} set cur = ${stamp(partner, 'seconds', 'UTC', 1)} where id % 2 = 0`);
      const c = churn(partner, id, 'seconds', 'UTC', 20);
      const handle = await backfill(store, connector, { chunks: 3, checkpointRows: 7, maxRowsPerSecond: 3000 });
      expect(await handle.done).toMatchObject({ state: 'succeeded' });
      await c.stop();
      await settleThenPull(lab, store, connector, 1);
      expect(await delivered(store, connector)).toEqual(await expected(partner, id));
    });

    test('wall-clock cursor in America/New_York (settle 1): the seed is a wall time of the zone', async ({ lab }) => {
      const zone = 'America/New_York';
      const { id, partner, store, connector } = await setup(lab, 2000, { type: 'local', settle: 1, timezone: zone });
      const c = churn(partner, id, 'local', zone);
      await sleep(200);
      const handle = await backfill(store, connector, { chunks: 3, checkpointRows: 40, maxRowsPerSecond: 2000 });
      expect(await handle.done).toMatchObject({ state: 'succeeded' });
      await c.stop();
      const w = await loadWatermark(store.db, { connectorId: connector.id, stream: 's' });
      expect(w).toBeDefined();
      await settleThenPull(lab, store, connector, 1);
      expect(await delivered(store, connector)).toEqual(await expected(partner, id));
    });

    test('integer cursor, onboarding: ids inserted during the backfill are above the seeded largest id', async ({ lab }) => {
      const { id, partner, store, connector } = await setup(lab, 2000, { type: 'integer' });
      const c = churn(partner, id, 'integer');
      await sleep(100);
      const handle = await backfill(store, connector, { chunks: 3, checkpointRows: 40, maxRowsPerSecond: 2000 });
      expect(await handle.done).toMatchObject({ state: 'succeeded' });
      await c.stop();
      expect(await loadWatermark(store.db, { connectorId: connector.id, stream: 's' })).toMatchObject({ key: [] });
      await settleThenPull(lab, store, connector, 0);
      expect(await delivered(store, connector)).toEqual(await expected(partner, id));
    });

    test('integer cursor beside a watermark: no seed, the last chunk stays open, pulls after it', async ({ lab }) => {
      const { id, partner, store, connector } = await setup(lab, 1000, { type: 'integer' });
      await lab.pull(store, connector);
      const c = churn(partner, id, 'integer');
      const handle = await backfill(store, connector, { chunks: 2, checkpointRows: 40, maxRowsPerSecond: 2000 });
      await sleep(400);
      await c.stop();
      expect(await handle.done).toMatchObject({ state: 'succeeded' });
      await settleThenPull(lab, store, connector, 0);
      expect(await delivered(store, connector)).toEqual(await expected(partner, id));
    });

    test('a seed below the view\'s first row (every row inside the settle window), with lookback', async ({ lab }) => {
      const { id, partner, store, connector } = await setup(lab, 300, { settle: 3, lookback: 5 });
      await partner.exec(`update t_${id} set cur = ${stamp(partner, 'instant', 'UTC', 0)}`);
      const handle = await backfill(store, connector, { chunks: 4, checkpointRows: 10 });
      expect(await handle.done).toMatchObject({ state: 'succeeded', rowsDone: 0 });
      await settleThenPull(lab, store, connector, 3);
      expect(await delivered(store, connector)).toEqual(await expected(partner, id));
    });
  });
}
