/**
 * The seven ways a record was lost or regressed before one delivery order existed (issue
 * "One order for every record"), each replayed as the interleaving that broke it, on the
 * real databases and on both sinks where the sink matters. A record must end at its row's
 * newest value in the view (absent where soft-deleted), whatever ran beside what.
 */
import { sql } from 'kysely';
import { startBackfill } from '../../src/backfill/run-backfill.ts';
import { createSink, openConnectorSource, reachTarget, storeRuntime } from '../../src/engine/connector-runtime.ts';
import { deliverJudged } from '../../src/engine/page-delivery.ts';
import { judgePage, type PageContext } from '../../src/engine/page-judgement.ts';
import { planStream } from '../../src/engine/stream-plan.ts';
import type { ReachApiServer } from '../../src/dev/reach-api-server.ts';
import type { RegisteredConnector } from '../../src/store/connector-registry.ts';
import { loadWatermark } from '../../src/store/delivery-state.ts';
import { holdsOf } from '../../src/store/holds.ts';
import { startRun, ZERO_COUNTS } from '../../src/store/run-records.ts';
import { loadSchemaCatalog } from '../../src/store/schema-registry.ts';
import { openAdminTransaction } from '../helpers/admin-transaction.ts';
import { TEST_DIALECTS, type Partner, type TestDialect } from '../helpers/partner.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test, type Lab, type LabStore } from '../fixture.ts';

type SinkKind = 'store' | 'reach';
const SINKS: SinkKind[] = ['store', 'reach'];

/** What the sink holds for a tenant's contacts, by external id (deleted records absent). */
async function held(store: LabStore, reach: ReachApiServer | undefined, tenant: string): Promise<Record<string, Record<string, unknown>>> {
  if (reach) {
    await reach.settled();
    return Object.fromEntries(reach.resources(tenant, 'contacts'));
  }
  return Object.fromEntries((await readResources(store.db, tenant, 'contacts')).map((r) => [String(r.id), r]));
}

/** A contacts stream on `v_<name>` (id, email, deleted_at, updated_at), optionally into a local Reach API. */
async function stream(lab: Lab, dialect: TestDialect, sink: SinkKind, options: { settle?: number; source?: string; reach?: Partial<Parameters<Lab['reachApi']>[0]> } = {}) {
  const partner = await lab.partner(dialect);
  const store = await lab.store();
  const reach = sink === 'reach' ? await lab.reachApi(options.reach) : undefined;
  const name = lab.unique(`o${sink[0]}`);
  const t = partner.types;
  await lab.view(partner, name, `id ${t.bigint} primary key, email ${t.text}, deleted_at ${t.timestamp} null, updated_at ${t.timestamp} not null`);
  const connector = await lab.connector(store, partner, {
    id: name, reach, source: `settle_seconds: ${options.settle ?? 0}\n${options.source ?? ''}`,
    body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, deleted: { column: deleted_at },
      fields: { id: id, email: email } }
`,
  });
  return { partner, store, reach, connector, table: `t_${name}`, view: `v_${name}` };
}

/**
 * A run of another kind than a pull, driven page by page: it reads a page now and delivers it
 * when the test says, as a backfill chunk whose page waited for its sink or its throttle.
 */
async function otherRun(store: LabStore, connector: RegisteredConnector) {
  const runtime = storeRuntime(store.db);
  const source = await openConnectorSource(connector.config, runtime);
  const plan = await planStream(source, connector, connector.config.streams[0]!, await loadSchemaCatalog(store.db));
  const sink = createSink(await reachTarget(connector.config, runtime), testLog);
  const hold = (await holdsOf(store.db).tryTake(`test backfill of ${connector.id}`))!;
  const run = await startRun(store.db, { connectorId: connector.id, stream: plan.stream.name }, 'backfill', undefined, { hold });
  const ctx: PageContext = { plan, store: store.db, sink, run, openRejections: { value: false } };
  return {
    read: async () => {
      const page = await source.withReadSession((s) => s.readPage(plan.spec, { limit: 1000 }));
      return judgePage(plan, run.id, page.rows, page.positions);
    },
    deliver: (judged: ReturnType<typeof judgePage>) => deliverJudged(ctx, judged, { beforeCommit: async () => {} }),
    close: async () => {
      await run.finish('succeeded', ZERO_COUNTS);
      await hold.release();
      await source.close();
    },
  };
}

describe('1. a soft delete is never undone by an older read', () => {
  for (const sink of SINKS) {
    test(`a backfill's read from before the delete, delivered after a pull recorded it, is stale (${sink})`, async ({ lab }) => {
      const { partner, store, reach, connector, table } = await stream(lab, 'postgres', sink);
      await partner.exec(`insert into ${table} values (1, 'a@x.io', null, ${partner.nowMinus(60)}), (2, 'b@x.io', null, ${partner.nowMinus(60)})`);
      const backfill = await otherRun(store, connector);
      const before = await backfill.read();
      // The partner soft-deletes record 1, which nothing has delivered yet; a pull reads the delete.
      await partner.exec(`update ${table} set deleted_at = ${partner.nowMinus(1)}, updated_at = ${partner.nowMinus(1)} where id = 1`);
      const [pull] = await lab.pull(store, connector);
      expect(pull).toMatchObject({ status: 'succeeded', rowsRead: 2 });
      // The backfill's page, read before the delete, lands now.
      const outcome = await backfill.deliver(before);
      await backfill.close();
      expect(outcome).toMatchObject({ sent: 0, unchanged: 2 });
      await lab.pull(store, connector);
      expect(await held(store, reach, connector.tenant)).toEqual({ 2: { id: '2', email: 'b@x.io' } });
      // Nothing was there to remove: the remembered delete cost Reach no request.
      if (reach) expect(reach.requests.filter((r) => r.method === 'DELETE')).toEqual([]);
    });
  }
});

describe('2. an older value never wins in Reach', () => {
  test('a pull waits for the unconfirmed older send of a record before posting its newer value, whatever order Reach applies batches in', async ({ lab }) => {
    // Reach applies the first batch 800 ms after accepting it, every later one at once.
    const { partner, store, reach, connector, table } = await stream(lab, 'postgres', 'reach', { reach: { applyDelayOf: (n) => (n === 1 ? 800 : 0) } });
    await partner.exec(`insert into ${table} values (1, 'old@x.io', null, ${partner.nowMinus(60)})`);
    const backfill = await otherRun(store, connector);
    const delivering = backfill.deliver(await backfill.read());
    while (!reach!.requests.some((r) => r.method === 'POST')) await new Promise((r) => setTimeout(r, 10));
    await partner.exec(`update ${table} set email = 'new@x.io', updated_at = ${partner.nowMinus(1)} where id = 1`);
    const [pull] = await lab.pull(store, connector);
    await delivering;
    await backfill.close();
    expect(pull).toMatchObject({ status: 'succeeded', rowsSent: 1 });
    expect(await held(store, reach, connector.tenant)).toEqual({ 1: { id: '1', email: 'new@x.io' } });
    // The newer value went out only once the older batch was processed.
    const posts = reach!.requests.filter((r) => r.method === 'POST');
    const firstDone = reach!.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/api/batches/')).map((r) => r.at);
    expect(posts).toHaveLength(2);
    expect(posts[1]!.at).toBeGreaterThanOrEqual(Math.min(...firstDone));
  });
});

for (const dialect of TEST_DIALECTS) {
  describe(`3. a backfill reads nothing that has not settled (${dialect})`, () => {
    test('the final value of a late-committing transaction, stamped before a newer intermediate value, is delivered', async ({ lab }) => {
      const { partner, store, connector, table } = await stream(lab, dialect, 'store', { settle: 3 });
      await partner.exec(`insert into ${table} values (1, 'first@x.io', null, ${partner.nowMinus(60)})`);
      // A transaction begins; its write will carry its start time.
      const late = await openAdminTransaction(partner);
      const began = await partner.query<{ at: string }>(dialect === 'postgres'
        ? "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') as at" : 'select utc_timestamp(6) as at');
      await new Promise((r) => setTimeout(r, 300));
      // Meanwhile another writer sets an intermediate value, stamped later, and commits.
      await partner.exec(`update ${table} set email = 'intermediate@x.io', updated_at = ${partner.nowMinus(0)} where id = 1`);
      // The late transaction writes the final value with its earlier stamp, and has not committed yet.
      const stamp = dialect === 'postgres' ? `timestamptz '${began[0]!.at}+00'` : `'${began[0]!.at}'`;
      await late.run(`update ${table} set email = 'final@x.io', updated_at = ${stamp} where id = 1`);
      // A backfill now: its snapshot shows the intermediate value, the final one is not committed yet.
      const handle = await startBackfill({ store: store.db, log: testLog }, { connector: connector.id });
      expect(await handle.done).toMatchObject({ state: 'succeeded' });
      // Committed well within the settle window after the time it stamped, as the cursor contract asks.
      await late.commit();
      await new Promise((r) => setTimeout(r, 3_300));
      await lab.pull(store, connector);
      expect(await held(store, undefined, connector.tenant)).toEqual({ 1: { id: '1', email: 'final@x.io' } });
    });
  });

  describe(`4. a slow sink only slows a backfill (${dialect})`, () => {
    test('200k rows into a Reach API that processes each batch in 0.5 s, with a 5 s statement timeout, arrive equal to the view', async ({ lab }) => {
      const { partner, store, reach, connector, table } = await stream(lab, dialect, 'reach', {
        source: 'statement_timeout_seconds: 5\nmax_connections: 2', reach: { processingDelayMs: 500 },
      });
      const fill = dialect === 'postgres'
        ? `select g, 'u' || g || '@x.io', null, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 millisecond' from generate_series(1, 200000) g`
        : `select seq, concat('u', seq, '@x.io'), null, timestamp '2024-01-01 00:00:00' + interval seq * 1000 microsecond from seq_1_to_200000`;
      await partner.exec(`insert into ${table} ${fill}`, `create index ${table}_cursor on ${table} (updated_at, id)`);
      const started = performance.now();
      const result = await lab.cli(['backfill', connector.id, '--json'], { env: { DATABASE_URL: store.url }, timeoutMs: 300_000 });
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout)[0]).toMatchObject({ state: 'succeeded', rowsDone: 200_000 });
      // It took far longer than the statement timeout: no statement lived that long.
      expect(performance.now() - started).toBeGreaterThan(5_000);
      const stored = await held(store, reach, connector.tenant);
      expect(Object.keys(stored)).toHaveLength(200_000);
      const sample = await partner.query<{ id: string | number; email: string }>(`select id, email from ${table} where id % 9973 = 1`);
      for (const row of sample) expect(stored[String(row.id)]).toEqual({ id: String(row.id), email: row.email });
    }, 300_000);
  });

  describe(`5. a DATE cursor never passes a day that can still change (${dialect})`, () => {
    test('rows of the partner\'s today are not read, so a row added later today is not left behind the watermark', async ({ lab }) => {
      const partner = await lab.partner(dialect);
      const store = await lab.store();
      const name = lab.unique('day');
      const today = dialect === 'postgres' ? 'current_date' : 'utc_date()';
      const daysAgo = (n: number) => (dialect === 'postgres' ? `current_date - ${n}` : `utc_date() - interval ${n} day`);
      await lab.view(partner, name, `id ${partner.types.bigint} primary key, email ${partner.types.text}, changed_on date not null`,
        `values (1, 'a@x.io', ${daysAgo(3)}), (2, 'b@x.io', ${daysAgo(1)}), (5, 'e@x.io', ${today}), (6, 'f@x.io', ${today})`);
      const connector = await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0', body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: changed_on, fields: { id: id, email: email } }
` });
      await lab.pull(store, connector);
      // Later the same day: a new row, and a row moved to today, both sorting before today's first key.
      await partner.exec(`insert into t_${name} values (3, 'c@x.io', ${today})`, `update t_${name} set email = 'a2@x.io', changed_on = ${today} where id = 1`);
      await lab.pull(store, connector);
      const [{ d }] = await partner.query<{ d: string }>(dialect === 'postgres' ? "select to_char(current_date, 'YYYY-MM-DD') as d" : "select date_format(utc_date(), '%Y-%m-%d') as d");
      const watermark = await loadWatermark(store.db, { connectorId: connector.id, stream: 'people' });
      expect(watermark!.cursor < d!).toBe(true);
      // Only the closed days are delivered; today's rows and changes wait for the day to end (then nothing sorts before the watermark).
      expect(await held(store, undefined, connector.tenant)).toEqual({ 1: { id: '1', email: 'a@x.io' }, 2: { id: '2', email: 'b@x.io' } });
    });
  });
}

describe('6. a live run is never declared abandoned; a run taken for dead commits nothing', () => {
  test('a pull whose page waits minutes on Reach keeps beating, and a second pull is refused meanwhile', async ({ lab }) => {
    const { partner, store, reach, connector, table } = await stream(lab, 'postgres', 'reach', { reach: { processingDelayMs: 3_000 } });
    await partner.exec(`insert into ${table} values (1, 'a@x.io', null, ${partner.nowMinus(60)})`);
    const first = lab.pull(store, connector);
    await new Promise((r) => setTimeout(r, 2_500));
    const [running] = await sql<{ age: number }>`select extract(epoch from now() - heartbeat_at) as age from runs where status = 'running'`.execute(store.db).then((r) => r.rows);
    expect(Number(running!.age)).toBeLessThan(2);
    await expect(lab.pull(store, connector)).rejects.toMatchObject({ code: 'RP_STREAM_BUSY' });
    expect((await first)[0]).toMatchObject({ status: 'succeeded', rowsSent: 1 });
    expect(await held(store, reach, connector.tenant)).toEqual({ 1: { id: '1', email: 'a@x.io' } });
  });

  test('a run whose store connection dropped is taken over at once, and stops', async ({ lab }) => {
    const { partner, store, reach, connector, table } = await stream(lab, 'postgres', 'reach', { reach: { processingDelayMs: 1_500 } });
    await partner.exec(`insert into ${table} values (1, 'a@x.io', null, ${partner.nowMinus(60)})`);
    // The first run in a process of its own (its own store connections and holds session).
    const other = await lab.storeProcess(store, 'zombie');
    const zombie = lab.pull(other.store, connector);
    let zombieEnded: unknown;
    void zombie.then((summaries) => (zombieEnded = summaries), (error: unknown) => (zombieEnded = error));
    // Fail with what the run said if it ends before it posts, instead of waiting out the test's timeout.
    while (!reach!.requests.some((r) => r.method === 'POST')) {
      if (zombieEnded !== undefined) throw new Error(`the first run ended before it posted: ${JSON.stringify(zombieEnded)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    // Its holds session dies (a network cut between it and the store), the run itself goes on.
    await other.endHoldsSession();
    await partner.exec(`update ${table} set email = 'b@x.io', updated_at = ${partner.nowMinus(1)} where id = 1`);
    const [takeover] = await lab.pull(store, connector);
    const [dead] = await zombie;
    expect(dead).toMatchObject({ status: 'failed', error: expect.objectContaining({ code: 'RP_RUN_FENCED' }) });
    expect(takeover).toMatchObject({ status: 'succeeded' });
    const runs = await store.db.selectFrom('runs').select(['id', 'status', 'error_code']).where('connector_id', '=', connector.id).orderBy('id').execute();
    // Whichever came first: the run saw its hold end and stopped, or the takeover marked it abandoned.
    expect(runs.map((r) => r.status)).toEqual(['failed', 'succeeded']);
    expect(['RP_RUN_FENCED', 'RP_RUN_ABANDONED']).toContain(runs[0]!.error_code);
    // The watermark is the takeover's, and Reach holds the newest value.
    expect((await loadWatermark(store.db, { connectorId: connector.id, stream: 'people' }))?.key).toEqual(['1']);
    expect(await held(store, reach, connector.tenant)).toEqual({ 1: { id: '1', email: 'b@x.io' } });
  });
  test('a run taken for dead while it waits on Reach moves no watermark and records no delivery', async ({ lab }) => {
    const { partner, store, reach, connector, table } = await stream(lab, 'postgres', 'reach', { reach: { processingDelayMs: 1_500 } });
    await partner.exec(`insert into ${table} values (1, 'a@x.io', null, ${partner.nowMinus(60)})`);
    const zombie = lab.pull(store, connector);
    while (!reach!.requests.some((r) => r.method === 'POST')) await new Promise((r) => setTimeout(r, 10));
    // What a takeover does to the row of a run it takes for dead.
    await store.db.updateTable('runs').set({ status: 'failed', error_code: 'RP_RUN_ABANDONED' }).where('connector_id', '=', connector.id).execute();
    const [dead] = await zombie;
    expect(dead).toMatchObject({ status: 'failed', error: expect.objectContaining({ code: 'RP_RUN_FENCED' }) });
    expect(await loadWatermark(store.db, { connectorId: connector.id, stream: 'people' })).toBeUndefined();
    expect(await store.db.selectFrom('delivered').selectAll().where('connector_id', '=', connector.id).execute()).toEqual([]);
    // Its send stays claimed until the next run settles it from Reach's own account.
    expect(await store.db.selectFrom('delivery_claims').select('external_id').where('connector_id', '=', connector.id).execute()).toEqual([{ external_id: '1' }]);
    const [next] = await lab.pull(store, connector);
    expect(next).toMatchObject({ status: 'succeeded', rowsRead: 1, rowsUnchanged: 1 });
    expect(await store.db.selectFrom('delivery_claims').selectAll().where('connector_id', '=', connector.id).execute()).toEqual([]);
    expect(await held(store, reach, connector.tenant)).toEqual({ 1: { id: '1', email: 'a@x.io' } });
  });
});

describe('6b. the fence itself: a run taken for dead commits nothing before its heartbeat notices', () => {
  test('a zombie whose next heartbeat is a minute away is refused at its commit', async ({ lab }) => {
    const { partner, store, reach, connector, table } = await stream(lab, 'postgres', 'reach', { reach: { processingDelayMs: 1_500 } });
    await partner.exec(`insert into ${table} values (1, 'a@x.io', null, ${partner.nowMinus(60)})`);
    // A process whose heartbeat is slow: only the fence in the commit's transaction can stop it.
    const zombie = lab.spawnCli(['pull', connector.id, '--json'], { env: { DATABASE_URL: store.url, REACH_PULLER_HEARTBEAT_MS: '60000' } });
    while (!reach!.requests.some((r) => r.method === 'POST')) await new Promise((r) => setTimeout(r, 10));
    await store.db.updateTable('runs').set({ status: 'failed', error_code: 'RP_RUN_ABANDONED' }).where('connector_id', '=', connector.id).execute();
    const ended = await zombie.result;
    expect(JSON.parse(ended.stdout)[0]).toMatchObject({ status: 'failed', error: expect.stringMatching(/^RP_RUN_FENCED/) });
    expect(await loadWatermark(store.db, { connectorId: connector.id, stream: 'people' })).toBeUndefined();
    expect(await store.db.selectFrom('delivered').selectAll().where('connector_id', '=', connector.id).execute()).toEqual([]);
  });
});

describe('7. a dead process releases its stream at once', () => {
  test('on the embedded store: a pull killed -9 is followed by a pull at once', async ({ lab }) => {
    const partner: Partner = await lab.partner('postgres');
    const home = await lab.tmpDir();
    const name = lab.unique('emb');
    await lab.view(partner, name, 'id bigint primary key, email text, updated_at timestamptz not null',
      `select g, 'u' || g || '@x.io', now() - interval '1 day' + g * interval '1 millisecond' from generate_series(1, 3000) g`);
    const dir = await lab.tmpDir();
    const file = `${dir}/${name}.yaml`;
    const { writeFile } = await import('node:fs/promises');
    await writeFile(file, `tenant: ${name}\n${partner.sourceYaml('  settle_seconds: 0')}\nstreams:\n  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 10, fields: { id: id, email: email } }\n`);
    const env = { REACH_PULLER_HOME: home, DATABASE_URL: '', LOG_LEVEL: 'debug' };
    expect((await lab.cli(['apply', file], { env, timeoutMs: 120_000 })).code).toBe(0);
    const { child, result } = lab.spawnCli(['pull', name], { env, timeoutMs: 120_000 });
    await new Promise<void>((resolve) => child.stderr!.on('data', (d: Buffer) => d.toString().includes('page confirmed') && resolve()));
    child.kill('SIGKILL');
    expect((await result).signal).toBe('SIGKILL');
    const again = await lab.cli(['pull', name, '--json'], { env: { ...env, LOG_LEVEL: 'warn' }, timeoutMs: 120_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)[0]).toMatchObject({ status: 'succeeded' });
    const runs = await lab.cli(['runs', name, '--json'], { env: { ...env, LOG_LEVEL: 'warn' }, timeoutMs: 120_000 });
    const statuses = (JSON.parse(runs.stdout) as { items: { status: string }[] }).items.map((r) => r.status);
    expect(statuses.sort()).toEqual(['failed', 'succeeded']);
  }, 180_000);
});
