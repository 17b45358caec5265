/**
 * `npm run bench [-- --rows N --big-rows N --api-rows N --connectors N --only 1,3]`: the six
 * figures of issue 9, figure 7 (the first pull after a full backfill), 8 (verify), 9 (CLI start),
 * 10 (the console's overview over --connectors streams) and 11 (a backfill into the embedded
 * store), each measured in
 * the same run as its reference, printed as a table
 * and as JSON (also written to bench/results/latest.json). Needs the local PostgreSQL and
 * MariaDB (see docs/benchmarks.md). Databases are named rp_bench_*.
 */
import { fork, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { pullConnector } from '../src/engine/pull-connector.ts';
import { planStream } from '../src/engine/stream-plan.ts';
import { createLogger } from '../src/log.ts';
import { Scheduler } from '../src/scheduler/scheduler.ts';
import { openSource } from '../src/sources/source-pools.ts';
import { connectionSettings, createSink } from '../src/engine/connector-runtime.ts';
import { DeliveryPipeline, PAGES_IN_FLIGHT } from '../src/engine/page-delivery.ts';
import { judgePage, type JudgedPage } from '../src/engine/page-judgement.ts';
import { startRun, ZERO_COUNTS } from '../src/store/run-records.ts';
import type { BatchSink } from '../src/sinks/sink.ts';
import { withPlannedStream } from '../src/engine/planned-stream.ts';
import { openStore, type Store } from '../src/store/open-store.ts';
import { getConnector } from '../src/store/connector-registry.ts';
import { loadWatermark, saveWatermark } from '../src/store/delivery-state.ts';
import { startBackfill } from '../src/backfill/run-backfill.ts';
import { loadBackfill } from '../src/backfill/backfill-store.ts';
import { loadSchemaCatalog } from '../src/store/schema-registry.ts';
import { sql } from 'kysely';
import { BackgroundBackfills } from '../src/backfill/background-backfills.ts';
import { buildOpsApi } from '../src/server/ops-api.ts';
import { PullerMetrics } from '../src/server/puller-metrics.ts';
import {
  benchStore, COLUMNS, mysqlPartner, pgExec, pgPartner, pipeline, psql, registerBench, SELECT_COLUMNS,
} from './bench-setup.ts';
import { perRow, ProcessCpu } from './process-cpu.ts';

const { values: flags } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    'big-rows': { type: 'string', default: '5000000' },
    'api-rows': { type: 'string', default: '100000' },
    // Figure 5's sink and fetch loop, each run this many times in turn (medians).
    'api-rounds': { type: 'string', default: '5' },
    connectors: { type: 'string', default: '2000' },
    // Triggered at once on one source capped at 2: the rest of the connectors only load and schedule.
    triggered: { type: 'string', default: '100' },
    only: { type: 'string', default: '1,2,3,4,5,6,7,8,9,10,11' },
    // V8's default lets an idle heap grow well past the live set; 0 keeps that default.
    'heap-mb': { type: 'string', default: '0' },
  },
});
const ROWS = Number(flags.rows);
const BIG = Number(flags['big-rows']);
const API_ROWS = Number(flags['api-rows']);
const API_ROUNDS = Number(flags['api-rounds']);
const CONNECTORS = Number(flags.connectors);
const TRIGGERED = Math.min(CONNECTORS, Number(flags.triggered));
const HEAP_MB = Number(flags['heap-mb']);
const ONLY = new Set(flags.only!.split(',').map(Number));
const log = createLogger({ level: 'warn', pretty: false });

interface Figure {
  figure: string;
  measured: string;
  reference: string;
  ratio: number | null;
  target: string;
  met: boolean | null;
  detail: Record<string, unknown>;
}
const figures: Figure[] = [];
/** Keeps a figure and logs it at once, so a long run that is stopped still shows what it measured. */
function record(figure: Figure): void {
  figures.push(figure);
  process.stderr.write(`figure: ${JSON.stringify(figure)}\n`);
}
const rate = (rows: number, s: number) => Math.round(rows / s);
const say = (text: string) => process.stderr.write(`${text}\n`);

/**
 * Runs a backfill as production does: the compiled CLI (`npm run build`, as in the Docker
 * image) in a process of its own, so its peak RSS (VmHWM, sampled) is the puller's alone.
 * The seconds are the backfill's own, from its record: process start-up is not counted.
 */
async function childBackfill(storeUrl: string, connector: string, env: NodeJS.ProcessEnv = {}): Promise<{ rows: number; seconds: number; peakMb: number }> {
  // BENCH_CPU_PROF=1 writes a .cpuprofile of each backfill to bench/results/profiles (open it in Chrome DevTools).
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', 'bench/results/profiles'] : [];
  const heap = HEAP_MB > 0 ? [`--max-old-space-size=${HEAP_MB}`] : [];
  const { code, out, peakMb } = await measuredCli([...profile, ...heap, 'dist/cli/main.js', 'backfill', connector, '--json'], { DATABASE_URL: storeUrl, ...env });
  if (code !== 0) throw new Error(`backfill exited with ${code}`);
  const [result] = JSON.parse(out) as { state: string; rowsDone: number; createdAt: string; finishedAt: string }[];
  if (result?.state !== 'succeeded') throw new Error(`backfill ${result?.state}`);
  const seconds = (Date.parse(result.finishedAt) - Date.parse(result.createdAt)) / 1000;
  return { rows: result.rowsDone, seconds, peakMb };
}

/**
 * Runs node with `args` (the built CLI and its arguments) and `env`: its exit code, stdout and peak RSS (VmHWM,
 * sampled every `sampleMs`).
 */
async function measuredCli(args: string[], env: NodeJS.ProcessEnv, sampleMs = 100): Promise<{ code: number | null; out: string; peakMb: number }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  let peakKb = 0;
  const timer = setInterval(() => {
    readFile(`/proc/${child.pid}/status`, 'utf8').then((s) => {
      peakKb = Math.max(peakKb, Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0));
    }, () => undefined);
  }, sampleMs);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearInterval(timer);
  return { code, out, peakMb: Math.round(peakKb / 1024) };
}

/** Runs `verify` in a process of its own; seconds are wall-clock, process start-up included. */
async function childVerify(storeUrl: string, connector: string): Promise<{ report: { viewRows: number; differences: number; ranges: number; rangesDiffering: number }; seconds: number; peakMb: number }> {
  const started = performance.now();
  const { code, out, peakMb } = await measuredCli(['dist/cli/main.js', 'verify', connector, '--json'], { DATABASE_URL: storeUrl });
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`verify exited with ${code}: ${out.slice(0, 2000)}`);
  const [report] = JSON.parse(out) as { viewRows: number; differences: number; ranges: number; rangesDiffering: number }[];
  return { report: report!, seconds, peakMb };
}

const rssPoints: { rows: number; peakMb: number }[] = [];

async function figureBackfill(dialect: 'postgres' | 'mysql'): Promise<void> {
  const name = dialect === 'postgres' ? 'pg' : 'my';
  say(`[${dialect}] seeding ${ROWS} rows...`);
  const partnerUrl = dialect === 'postgres' ? await pgPartner(`rp_bench_${name}`, ROWS) : await mysqlPartner(`rp_bench_${name}`, ROWS);
  const { store, url } = await benchStore(`rp_bench_store_${name}`);
  await registerBench(store, `bench-${name}`, { dialect, url: partnerUrl });
  await store.close();
  const query = `SELECT ${SELECT_COLUMNS} FROM tx_v ORDER BY updated_at, id`;
  const producer = dialect === 'postgres'
    ? psql(partnerUrl, `COPY (${query}) TO STDOUT`)
    : ['mariadb', '--batch', '--raw', '--skip-column-names', '-h', '127.0.0.1', '-u', 'root', '-D', `rp_bench_${name}`, '-e', query];
  say(`[${dialect}] COPY pipeline...`);
  const copyCpu = await ProcessCpu.start();
  const copySeconds = await pipeline(producer, psql(url, 'COPY copy_target FROM STDIN'));
  const copyCpuSeconds = await copyCpu.stop();
  say(`[${dialect}] engine backfill...`);
  const engineCpu = await ProcessCpu.start();
  const engine = await childBackfill(url, `bench-${name}`);
  const engineCpuSeconds = await engineCpu.stop();
  const groups = (children: string) => ({
    children, [`rp_bench_${name}`]: 'source database', mariadb: 'source database', [`rp_bench_store_${name}`]: 'store database',
    [`autovacuum rp_bench_store_${name}`]: 'store database, autovacuum',
  });
  const floorSeconds = await storeWriteFloor(url);
  const ratio = engine.seconds > 0 ? copySeconds / engine.seconds : 0;
  if (dialect === 'postgres') rssPoints.push({ rows: engine.rows, peakMb: engine.peakMb });
  record({
    figure: `${dialect === 'postgres' ? 1 : 2}. backfill ${dialect === 'postgres' ? 'PostgreSQL' : 'MariaDB'} view -> store`,
    measured: `${rate(engine.rows, engine.seconds)} rows/s`,
    reference: `${rate(ROWS, copySeconds)} rows/s (${dialect === 'postgres' ? 'COPY TO piped to COPY FROM' : 'mariadb --batch piped to COPY FROM'})`,
    ratio: round(ratio), target: '>= 0.2', met: ratio >= 0.2,
    detail: {
      rows: engine.rows, engineSeconds: round(engine.seconds), copySeconds: round(copySeconds), peakRssMb: engine.peakMb,
      storeWriteFloorRowsPerSecond: rate(engine.rows, floorSeconds), shareOfFloor: round(floorSeconds / engine.seconds),
      // CPU microseconds per row by process (bench/process-cpu.ts); the puller's include its start-up.
      cpuMicrosPerRow: perRow(engineCpuSeconds, engine.rows, groups('puller')),
      copyCpuMicrosPerRow: perRow(copyCpuSeconds, ROWS, groups('psql and mariadb clients')),
    },
  });
}

/**
 * Seconds PostgreSQL alone takes to write the backfill's records into fresh copies of the
 * store's tables with the sink's own statements for records their stream never delivered
 * (a first backfill: plain inserts, store/new-rows.ts; the per-stream version, the change
 * hashes), from rows already in the database: no puller, no parsing, no network. No backfill
 * into this store can be faster; the COPY reference skips this work.
 */
async function storeWriteFloor(storeUrl: string): Promise<number> {
  await pgExec(storeUrl,
    'drop table if exists floor_resources, floor_delivered',
    'create table floor_resources (like resources including all)',
    'create table floor_delivered (like delivered including all)',
    'checkpoint');
  const started = performance.now();
  await pgExec(storeUrl, `insert into floor_resources (tenant_id, schema_name, external_id, body, version, stream_versions, deleted, updated_at)
      select tenant_id, schema_name, external_id, body, version, jsonb_build_object('bench/transactions'::text, version), deleted, now() from resources`,
  `insert into floor_delivered (connector_id, stream, external_id, content_hash, version, deleted, updated_at)
      select connector_id, stream, external_id, content_hash, version, deleted, now() from delivered`);
  const seconds = (performance.now() - started) / 1000;
  await pgExec(storeUrl, 'drop table floor_resources, floor_delivered');
  return seconds;
}

/**
 * The embedded PGlite store, the default a new user gets: a backfill of the PostgreSQL view
 * (the CLI in a process of its own, as figure 1, with REACH_PULLER_HOME instead of
 * DATABASE_URL), beside PGlite's own COPY of the same rows (`psql COPY TO STDOUT` into
 * `COPY ... FROM '/dev/blob'` of a fresh PGlite database in the bench process).
 */
async function figureEmbeddedBackfill(): Promise<void> {
  say(`[embedded] seeding ${ROWS} rows...`);
  const partnerUrl = await pgPartner('rp_bench_embedded', ROWS);
  const home = await mkdtemp(path.join(os.tmpdir(), 'rp-bench-embedded-'));
  try {
    say('[embedded] COPY into PGlite...');
    const copySeconds = await pgliteCopy(partnerUrl, path.join(home, 'copy'));
    const store = await openStore({ home, command: 'bench' });
    await registerBench(store, 'bench-embedded', { dialect: 'postgres', url: partnerUrl });
    await store.close();
    say('[embedded] engine backfill...');
    const cpu = await ProcessCpu.start();
    const engine = await childBackfill('', 'bench-embedded', { REACH_PULLER_HOME: home });
    const cpuSeconds = await cpu.stop();
    const ratio = engine.seconds > 0 ? copySeconds / engine.seconds : 0;
    record({
      figure: '11. backfill PostgreSQL view -> embedded store (PGlite)',
      measured: `${rate(engine.rows, engine.seconds)} rows/s`,
      reference: `${rate(ROWS, copySeconds)} rows/s (COPY TO piped to PGlite COPY FROM)`,
      ratio: round(ratio), target: '>= 0.2', met: ratio >= 0.2,
      detail: {
        rows: engine.rows, engineSeconds: round(engine.seconds), copySeconds: round(copySeconds), peakRssMb: engine.peakMb,
        cpuMicrosPerRow: perRow(cpuSeconds, engine.rows, { children: 'puller and its embedded store', rp_bench_embedded: 'source database' }),
      },
    });
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

/** Seconds `psql COPY (view) TO STDOUT` into a fresh PGlite database's `COPY copy_target FROM '/dev/blob'` takes. */
async function pgliteCopy(partnerUrl: string, dataDir: string): Promise<number> {
  const started = performance.now();
  const producer = psql(partnerUrl, `COPY (SELECT ${SELECT_COLUMNS} FROM tx_v ORDER BY updated_at, id) TO STDOUT`);
  const child = spawn(producer[0]!, producer.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => chunks.push(d));
  // Listened to at once: a small view's psql can exit while PGlite boots.
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const { PGlite } = await import('@electric-sql/pglite');
  const db = await PGlite.create(dataDir);
  try {
    await db.exec(`create table copy_target (${COLUMNS.replace(' primary key', '')})`);
    const code = await exited;
    if (code !== 0) throw new Error(`psql exited with ${code}`);
    await db.query(`copy copy_target from '/dev/blob'`, [], { blob: new Blob(chunks) });
    return (performance.now() - started) / 1000;
  } finally {
    await db.close();
  }
}

/** Pulls `changed` rows changed after the watermark from a view of `rows` rows; time and rows examined per row returned. */
async function incremental(partnerUrl: string, rows: number, id: string): Promise<{ seconds: number; examinedPerRow: number }> {
  const { store } = await benchStore(`rp_bench_store_${id}`);
  try {
    await registerBench(store, id, { dialect: 'postgres', url: partnerUrl });
    const connector = await getConnector(store.db, id);
    const ref = { connectorId: id, stream: 'transactions' };
    const times: number[] = [];
    let examinedPerRow = 0;
    for (let round = 0; round < 3; round++) {
      const [[max]] = (await pgExec(partnerUrl, `select to_char(max(updated_at) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as c,
        (select id from tx order by updated_at desc, id desc limit 1)::text as k from tx`)).map((r) => r.rows as { c: string; k: string }[]);
      const watermark = { cursor: max!.c, key: [max!.k] };
      await saveWatermark(store.db, ref, watermark);
      const step = Math.floor(rows / 1000);
      await pgExec(partnerUrl, `update tx set updated_at = clock_timestamp(), amount = amount + 1
        where id in (select g * ${step} - ${round} from generate_series(1, 1000) g)`, 'analyze tx');
      if (round === 0) examinedPerRow = await examined(store, connector, watermark);
      const started = performance.now();
      const [run] = await pullConnector({ store: store.db, connector, log });
      times.push((performance.now() - started) / 1000);
      if (run?.rowsRead !== 1000) throw new Error(`incremental pull read ${run?.rowsRead} rows, expected 1000 (${run?.error?.message ?? ''})`);
    }
    return { seconds: medianOf(times), examinedPerRow };
  } finally {
    await store.close();
  }
}

/** EXPLAIN ANALYZE of the page query the Source compiles: rows the scans touched per row returned. */
async function examined(store: Awaited<ReturnType<typeof benchStore>>['store'], connector: Awaited<ReturnType<typeof getConnector>>, after: { cursor: string; key: string[] }): Promise<number> {
  const source = openSource(await connectionSettings(connector.config));
  try {
    const plan = await planStream(source, connector, connector.config.streams[0]!, await loadSchemaCatalog(store.db));
    const { sql, bindings } = source.compilePage(plan.spec, { after, upTo: '2100-01-01T00:00:00.000000Z', limit: plan.pageSize });
    const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:5432/${connector.config.source.database}` });
    await client.connect();
    try {
      const [{ 'QUERY PLAN': [top] }] = (await client.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, bindings)).rows as { 'QUERY PLAN': [{ Plan: PlanNode }] }[];
      let touched = 0;
      const walk = (n: PlanNode) => {
        // Heap rows: a Bitmap Index Scan's rows are fetched (and counted) by its Bitmap Heap Scan.
        if (/Scan$/.test(n['Node Type']) && n['Node Type'] !== 'Bitmap Index Scan') {
          touched += n['Actual Rows'] * n['Actual Loops'] + (n['Rows Removed by Filter'] ?? 0) + (n['Rows Removed by Index Recheck'] ?? 0);
        }
        n.Plans?.forEach(walk);
      };
      walk(top.Plan);
      return round(touched / Math.max(1, top.Plan['Actual Rows']));
    } finally {
      await client.end();
    }
  } finally {
    await source.close();
  }
}

interface PlanNode {
  'Node Type': string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  Plans?: PlanNode[];
}

let bigUrl: string | undefined;
async function bigPartner(): Promise<string> {
  if (!bigUrl) {
    say(`seeding the big view (${BIG} rows)...`);
    bigUrl = await pgPartner('rp_bench_big', BIG);
  }
  return bigUrl;
}

async function figureIncremental(): Promise<void> {
  say('incremental pulls...');
  const small = await incremental(await pgPartner('rp_bench_small', 100_000), 100_000, 'bench-inc-small');
  const big = await incremental(await bigPartner(), BIG, 'bench-inc-big');
  const ratio = big.seconds / small.seconds;
  record({
    figure: `3. pull 1,000 changed rows: ${BIG} vs 100k rows`,
    measured: `${round(big.seconds)} s`, reference: `${round(small.seconds)} s`, ratio: round(ratio), target: '<= 1.5', met: ratio <= 1.5,
    detail: { examinedPerReturnedSmall: small.examinedPerRow, examinedPerReturnedBig: big.examinedPerRow, examinedTarget: '<= 1.2' },
  });
  const worst = Math.max(small.examinedPerRow, big.examinedPerRow);
  record({
    figure: '3b. rows examined per row returned (EXPLAIN ANALYZE)', measured: String(worst), reference: '1 (ideal)', ratio: worst,
    target: '<= 1.2', met: worst <= 1.2, detail: { small: small.examinedPerRow, big: big.examinedPerRow },
  });
}

async function figureRss(): Promise<void> {
  const url = await bigPartner();
  const { store, url: storeUrl } = await benchStore('rp_bench_store_big');
  await registerBench(store, 'bench-big', { dialect: 'postgres', url });
  await store.close();
  say(`backfill of ${BIG} rows in a child process...`);
  const big = await childBackfill(storeUrl, 'bench-big');
  rssPoints.push({ rows: big.rows, peakMb: big.peakMb });
  const peak = Math.max(...rssPoints.map((p) => p.peakMb));
  record({
    figure: `4. peak RSS of a backfill${HEAP_MB > 0 ? ` (--max-old-space-size=${HEAP_MB})` : ''}`, measured: rssPoints.map((p) => `${p.peakMb} MB @ ${p.rows} rows`).join(', '),
    reference: '256 MB', ratio: round(peak / 256), target: '< 256 MB, flat', met: peak < 256,
    detail: { points: rssPoints, bigRowsPerSecond: rate(big.rows, big.seconds) },
  });
}

/**
 * Figure 8: verify of an in-sync stream. A full backfill of a `--rows` PostgreSQL view into
 * the built-in store (both in child processes, peak RSS sampled), then `verify` of the same
 * stream: one scan, one digest statement per range and a resources comparison per range.
 */
async function figureVerify(): Promise<void> {
  say(`[verify] seeding ${ROWS} rows...`);
  const partnerUrl = await pgPartner('rp_bench_verify', ROWS);
  const { store, url } = await benchStore('rp_bench_store_verify');
  await registerBench(store, 'bench-verify', { dialect: 'postgres', url: partnerUrl });
  await store.close();
  say('[verify] backfill...');
  const backfillCpu = await ProcessCpu.start();
  const backfill = await childBackfill(url, 'bench-verify');
  const backfillCpuSeconds = await backfillCpu.stop();
  say('[verify] verify...');
  const verifyCpu = await ProcessCpu.start();
  const verify = await childVerify(url, 'bench-verify');
  const verifyCpuSeconds = await verifyCpu.stop();
  const groups = {
    children: 'puller', rp_bench_verify: 'source database', rp_bench_store_verify: 'store database', 'autovacuum rp_bench_store_verify': 'store database, autovacuum',
  };
  if (verify.report.differences !== 0 || verify.report.viewRows !== backfill.rows) {
    throw new Error(`verify of an in-sync stream found ${verify.report.differences} difference(s) over ${verify.report.viewRows} rows`);
  }
  const ratio = verify.seconds / backfill.seconds;
  record({
    figure: `8. verify of an in-sync ${ROWS}-row stream (built-in store)`,
    measured: `${round(verify.seconds)} s, ${verify.peakMb} MB peak RSS`,
    reference: `backfill of the same stream: ${round(backfill.seconds)} s, ${backfill.peakMb} MB`,
    ratio: round(ratio), target: '<= 1 (time), flat RSS', met: ratio <= 1 && verify.peakMb < 256,
    detail: { rows: verify.report.viewRows, ranges: verify.report.ranges, rangesDiffering: verify.report.rangesDiffering,
      verifyRowsPerSecond: rate(verify.report.viewRows, verify.seconds), backfillRowsPerSecond: rate(backfill.rows, backfill.seconds),
      verifyCpuMicrosPerRow: perRow(verifyCpuSeconds, verify.report.viewRows, groups),
      backfillCpuMicrosPerRow: perRow(backfillCpuSeconds, backfill.rows, groups) },
  });
}

/** The local Reach API in its own process (bench/reach-api-process.ts). */
interface ApiProcess {
  url: string;
  /** Waits until every accepted batch is processed; resolves with the tenant's stored records of the schema. */
  settled(tenant: string, schema: string): Promise<number>;
  close(): Promise<void>;
}

async function startApiProcess(token: string): Promise<ApiProcess> {
  const child = fork('bench/reach-api-process.ts', [token], { execArgv: ['--import', 'tsx'] });
  const next = <T>() => new Promise<T>((resolve, reject) => {
    child.once('message', (m) => resolve(m as T));
    child.once('exit', (code) => reject(new Error(`the local Reach API process exited with ${code}`)));
  });
  const { url } = await next<{ url: string }>();
  return {
    url,
    settled: async (tenant, schema) => {
      const answer = next<{ count: number }>();
      child.send({ settled: [tenant, schema] });
      return (await answer).count;
    },
    close: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.disconnect();
      await exited;
    },
  };
}

async function figureReachApi(): Promise<void> {
  const token = 'bench-token';
  process.env.RP_BENCH_TOKEN = token;
  say(`Reach API sink (${API_ROWS} records)...`);
  const partnerUrl = await pgPartner('rp_bench_api', API_ROWS);
  const { store } = await benchStore('rp_bench_store_api');
  const reach = (url: string) => `reach: { api_url: "${url}", token: "\${env:RP_BENCH_TOKEN}" }`;
  await registerBench(store, 'bench-sink', { dialect: 'postgres', url: partnerUrl });
  // The view's pages, read and mapped once, outside every measurement (figure 1 measures that part).
  const judged = await withPlannedStream(store.db, await getConnector(store.db, 'bench-sink'), 'transactions', undefined, async (plan, source) => {
    const pages: JudgedPage[] = [];
    await source.withReadSession(async (session) => {
      for await (const page of session.scan(plan.spec, {}, { chunkSize: plan.pageSize })) pages.push(judgePage(plan, '0', page.rows, page.positions));
    });
    return pages;
  });
  const records = judged.flatMap((page) => [...page.candidates.values()].map((c) => c.upsert!));

  // Measured: the sink alone, driven as the engine drives it (page-delivery.ts): a page is
  // posted without waiting for the posts before it, once the page PAGES_IN_FLIGHT (to Reach) back is processed.
  const sinkRound = async (round: number): Promise<number> => {
    const tenant = `bench-sink-${round}`;
    const api = await startApiProcess(token);
    try {
      const sink = createSink({ apiUrl: api.url, token }, log) as BatchSink;
      const started = performance.now();
      const pages: Promise<unknown>[] = [];
      for (let from = 0; from < records.length; from += 5000) {
        if (pages.length >= PAGES_IN_FLIGHT['reach-api']) await pages[pages.length - PAGES_IN_FLIGHT['reach-api']];
        const page = { tenant, schema: 'transactions', writer: 'bench/transactions', upserts: records.slice(from, from + 5000), deletes: [] };
        pages.push(sink.post(page, () => {}).then((posted) => sink.processed(posted)));
      }
      await Promise.all(pages);
      if (await api.settled(tenant, 'transactions') !== API_ROWS) throw new Error('the sink did not deliver every record');
      return (performance.now() - started) / 1000;
    } finally {
      await api.close();
    }
  };
  // The reference: the same server's intake, fed the same records as pre-built 1000-record
  // batches at the client's per-tenant concurrency (4).
  const batches = Array.from({ length: Math.ceil(API_ROWS / 1000) }, (_, b) => `{"resources":[${records.slice(b * 1000, b * 1000 + 1000).map((u) => u.json).join(',')}]}`);
  const loopRound = async (round: number): Promise<number> => {
    const tenant = `bench-loop-${round}`;
    const api = await startApiProcess(token);
    try {
      const started = performance.now();
      let next = 0;
      await Promise.all(Array.from({ length: 4 }, async () => {
        while (next < batches.length) {
          const body = batches[next++]!;
          const r = await fetch(`${api.url}/api/resources/transactions/batch`, {
            method: 'POST', body, headers: { authorization: `Bearer ${token}`, 'x-tenant-id': tenant, 'content-type': 'application/json' },
          });
          if (r.status !== 202) throw new Error(`intake answered ${r.status}`);
          await r.arrayBuffer();
        }
      }));
      if (await api.settled(tenant, 'transactions') !== API_ROWS) throw new Error('the loop did not deliver every record');
      return (performance.now() - started) / 1000;
    } finally {
      await api.close();
    }
  };
  // Rounds of the two in turn, medians: one round takes a second or two, where a moment's load moves it.
  const sinkRuns: number[] = [];
  const loopRuns: number[] = [];
  for (let round = 0; round < API_ROUNDS; round++) {
    sinkRuns.push(await sinkRound(round));
    loopRuns.push(await loopRound(round));
  }
  const sinkSeconds = medianOf(sinkRuns);
  const loopSeconds = medianOf(loopRuns);
  // Detail: the engine's whole delivery of the same pages: claims, the sink, and each page's
  // checkpoint with the delivered hashes, through DeliveryPipeline.
  const api = await startApiProcess(token);
  let deliverySeconds: number;
  try {
    await registerBench(store, 'bench-delivery', { dialect: 'postgres', url: partnerUrl }, reach(api.url));
    const connector = await getConnector(store.db, 'bench-delivery');
    const sink = createSink({ apiUrl: api.url, token }, log);
    const run = await startRun(store.db, { connectorId: 'bench-delivery', stream: 'transactions' }, 'pull', undefined);
    deliverySeconds = await withPlannedStream(store.db, connector, 'transactions', undefined, async (plan) => {
      const pipeline = new DeliveryPipeline({ plan, store: store.db, sink, run, openRejections: { value: false } });
      const started = performance.now();
      for (const page of judged) await pipeline.push(page, async () => {}, () => {});
      await pipeline.drain();
      if (await api.settled('bench-delivery', 'transactions') !== API_ROWS) throw new Error('the engine did not deliver every record');
      return (performance.now() - started) / 1000;
    });
    await run.finish('succeeded', ZERO_COUNTS);
  } finally {
    await api.close();
  }
  // For context: a whole pull (read, map, change detection, sink) of the same view.
  const pullSeconds = await pullIntoApi(store, partnerUrl, token);
  await store.close();
  const ratio = loopSeconds / sinkSeconds;
  record({
    figure: '5. Reach API sink', measured: `${rate(API_ROWS, sinkSeconds)} records/s`,
    reference: `${rate(API_ROWS, loopSeconds)} records/s (fetch loop, 1000-record batches, 4 in flight)`,
    ratio: round(ratio), target: '>= 0.9', met: ratio >= 0.9,
    detail: {
      records: API_ROWS, rounds: API_ROUNDS, sinkSeconds: round(sinkSeconds), loopSeconds: round(loopSeconds),
      sinkRuns: sinkRuns.map(round), loopRuns: loopRuns.map(round),
      withChangeDetectionRecordsPerSecond: rate(API_ROWS, deliverySeconds),
      wholePullRecordsPerSecond: rate(API_ROWS, pullSeconds),
    },
  });
}

/** Seconds a pull of the view into a fresh local Reach API takes. */
async function pullIntoApi(store: Store, partnerUrl: string, token: string): Promise<number> {
  const api = await startApiProcess(token);
  try {
    await registerBench(store, 'bench-api', { dialect: 'postgres', url: partnerUrl }, `reach: { api_url: "${api.url}", token: "\${env:RP_BENCH_TOKEN}" }`);
    const started = performance.now();
    const [run] = await pullConnector({ store: store.db, connector: await getConnector(store.db, 'bench-api'), log });
    await api.settled('bench-api', 'transactions');
    if (run?.rowsSent !== API_ROWS) throw new Error(`sent ${run?.rowsSent} of ${API_ROWS}: ${run?.error?.message ?? ''}`);
    return (performance.now() - started) / 1000;
  } finally {
    await api.close();
  }
}

async function figureScheduler(): Promise<void> {
  say(`scheduler with ${CONNECTORS} connectors...`);
  const partnerUrl = await pgPartner('rp_bench_sched', 10);
  const { store } = await benchStore('rp_bench_store_sched');
  const cap = 2;
  const ids = Array.from({ length: CONNECTORS }, (_, i) => `sched-${String(i).padStart(5, '0')}`);
  const registerAll = async (schedule: string) => {
    for (let i = 0; i < ids.length; i += 200) {
      await Promise.all(ids.slice(i, i + 200).map((id) => registerBench(store, id, { dialect: 'postgres', url: partnerUrl }, `schedule: "${schedule}"`)));
    }
  };
  const sampler = new pg.Client({ connectionString: partnerUrl });
  await sampler.connect();
  let maxConnections = 0;
  /** Samples the puller's partner connections every 20 ms until `done`. */
  const watch = async (done: () => Promise<boolean>) => {
    while (!(await done())) {
      const r = await sampler.query(`select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = 'reach-puller'`);
      maxConnections = Math.max(maxConnections, r.rows[0].n as number);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  try {
    // Part 1: start-up with every connector scheduled (yearly), then TRIGGERED pulls at once.
    await registerAll('0 0 1 1 *');
    let scheduler = new Scheduler({ db: store.db, log, concurrency: 8 });
    const t0 = performance.now();
    await scheduler.start();
    const startMs = performance.now() - t0;
    const t1 = performance.now();
    for (const id of ids.slice(0, TRIGGERED)) scheduler.trigger(id);
    const dispatchMs = performance.now() - t1;
    await watch(async () => scheduler.running().length === 0);
    const drainSeconds = (performance.now() - t1) / 1000;
    await scheduler.stop();

    // Part 2: one real cron tick for every connector at the same second: the time from the
    // tick to its last claim is the time the tick spends scheduling; then every pull it started.
    const at = new Date(Math.ceil((Date.now() + 30_000) / 1000) * 1000);
    await registerAll(`${at.getUTCSeconds()} ${at.getUTCMinutes()} ${at.getUTCHours()} * * *`);
    scheduler = new Scheduler({ db: store.db, log, concurrency: 8 });
    await scheduler.start();
    if (Date.now() > at.getTime() - 2000) throw new Error('registering the connectors took too long for the tick planned');
    await new Promise((resolve) => setTimeout(resolve, at.getTime() - Date.now()));
    const claims = () => store.db.selectFrom('schedule_ticks')
      .select((eb) => [eb.fn.countAll<string>().as('n'), eb.fn.max('updated_at').as('last')])
      .where('last_tick', '=', at).executeTakeFirstOrThrow();
    await watch(async () => Number((await claims()).n) === CONNECTORS && scheduler.running().length === 0);
    const tickDrainSeconds = (Date.now() - at.getTime()) / 1000;
    const tickMs = new Date((await claims()).last!).getTime() - at.getTime();
    await scheduler.stop();
    const succeeded = await store.db.selectFrom('runs').select((eb) => eb.fn.countAll<string>().as('n')).where('status', '=', 'succeeded').executeTakeFirstOrThrow();
    record({
      figure: `6. scheduler, ${CONNECTORS} connectors`,
      measured: `start (load + schedule all) ${Math.round(startMs)} ms; one tick of all ${CONNECTORS}: all claimed ${tickMs} ms after it; ` +
        `${TRIGGERED} triggered at once: dispatch ${Math.round(dispatchMs)} ms; ${maxConnections} partner connections at most`,
      reference: `max_connections ${cap}`, ratio: maxConnections / cap, target: `partner connections <= ${cap}`, met: maxConnections <= cap,
      detail: {
        connectors: CONNECTORS, triggered: TRIGGERED, maxPartnerConnections: maxConnections, pullsSucceeded: Number(succeeded.n),
        triggeredDrainSeconds: round(drainSeconds), tickMs, tickPullsDrainSeconds: round(tickDrainSeconds),
      },
    });
  } finally {
    await sampler.end();
    await store.close();
  }
}

// Figure 7: rows the partner changes while the backfill runs, in batches spread over its first 80 %.
const CHANGED_ROWS = 10_000;
const CHANGE_BATCHES = 10;
const SEED_SETTLE_SECONDS = 1;

/**
 * The first pull after a full backfill. A backfill from the stream's first row seeds the
 * watermark with the settle ceiling of its planning (`backfills.seed_cursor`), so the pull
 * after it reads only the rows changed since the backfill began; before the seed it read the
 * whole view again (the reference). Rows are updated from a separate admin connection while
 * the backfill runs, spread over the whole id range (some in chunks already read, some not).
 */
async function figureFirstPull(): Promise<void> {
  const id = 'bench-seed';
  say(`first pull after a full backfill: seeding ${ROWS} rows...`);
  const partnerUrl = await pgPartner('rp_bench_seed', ROWS);
  const { store } = await benchStore('rp_bench_store_seed');
  const admin = new pg.Client({ connectionString: partnerUrl });
  await admin.connect();
  try {
    await registerBench(store, id, { dialect: 'postgres', url: partnerUrl }, '', SEED_SETTLE_SECONDS);
    // The partner clock before the backfill is planned: rows with updated_at at or after it changed since it began.
    const began = (await admin.query<{ t: Date }>('select clock_timestamp() as t')).rows[0]!.t;
    let rowsDone = 0;
    let finished = false;
    const handle = await startBackfill({ store: store.db, log, onProgress: (p) => (rowsDone = p.rowsDone) }, { connector: id });
    const done = handle.done.finally(() => (finished = true));
    say(`backfill ${handle.id} running; updating ${CHANGED_ROWS} rows in ${CHANGE_BATCHES} batches while it runs...`);
    const perBatch = CHANGED_ROWS / CHANGE_BATCHES;
    const step = Math.floor(ROWS / perBatch);
    if (step < CHANGE_BATCHES) throw new Error(`--rows ${ROWS} is too few for ${CHANGED_ROWS} distinct changed rows`);
    let updated = 0;
    const batchesAt: number[] = [];
    for (let k = 0; k < CHANGE_BATCHES; k++) {
      // Batch k once the backfill has confirmed k * 8 % of the rows: ids k, step + k, 2 * step + k, ... (whole id range).
      while (rowsDone < (ROWS * 0.8 * k) / CHANGE_BATCHES && !finished) await sleep(20);
      if (finished) throw new Error(`the backfill ended before change batch ${k}: figure 7 needs the changes made while it runs`);
      const r = await admin.query(`update tx set updated_at = now(), amount = amount + 1
        where id in (select (g - 1) * ${step} + ${k + 1} from generate_series(1, ${perBatch}) g)`);
      updated += r.rowCount ?? 0;
      batchesAt.push(rowsDone);
    }
    const whileRunning = !finished;
    const backfill = await done;
    if (backfill.state !== 'succeeded') throw new Error(`backfill ${backfill.id} ${backfill.state}: ${backfill.error ?? ''}`);
    if (!whileRunning) throw new Error('the backfill ended before the last change committed');
    const seed = (await loadBackfill(store.db, handle.id)).seedCursor;
    const ref = { connectorId: id, stream: 'transactions' };
    const watermark = await loadWatermark(store.db, ref);
    // Past the settle window of the last change: the pull's ceiling is the partner clock less it.
    await sleep(SEED_SETTLE_SECONDS * 1000 + 1000);
    const [{ changed, total }] = (await admin.query<{ changed: string; total: string }>(
      'select count(*) filter (where updated_at >= $1) as changed, count(*) as total from tx_v', [began])).rows;
    const started = performance.now();
    const [run] = await pullConnector({ store: store.db, connector: await getConnector(store.db, id), log });
    const pullSeconds = (performance.now() - started) / 1000;
    if (run?.status !== 'succeeded') throw new Error(`the first pull ${run?.status}: ${run?.error?.message ?? ''}`);
    const rowsChanged = Number(changed);
    const rowsTotal = Number(total);
    const ratio = run.rowsRead / rowsChanged;
    record({
      figure: '7. first pull after a full backfill',
      measured: `${run.rowsRead} rows read (${rowsChanged} changed since the backfill began)`,
      reference: `${rowsTotal} rows (the whole view: the first pull before the seed)`,
      ratio: round(ratio), target: '<= 1.2 (rows read / rows changed)', met: ratio <= 1.2,
      detail: {
        rows: ROWS, backfillRows: backfill.rowsDone, backfillRowsPerSecond: backfill.rowsPerSecond, settleSeconds: SEED_SETTLE_SECONDS,
        rowsUpdated: updated, updateBatches: CHANGE_BATCHES, updateBatchesAtRowsDone: batchesAt, rowsChanged,
        seedCursor: seed, watermarkAfterBackfill: watermark, pullRowsRead: run.rowsRead, pullRowsSent: run.rowsSent,
        pullRowsUnchanged: run.rowsUnchanged, pullSeconds: round(pullSeconds), referenceRowsRead: rowsTotal,
        referenceRatio: round(rowsTotal / rowsChanged),
      },
    });
  } finally {
    await admin.end();
    await store.close();
  }
}

/**
 * Figure 9: how long the installed CLI takes to answer, as a user starts it (bin/reach-puller.js,
 * which runs dist/ once `npm run build` made it from these sources): `--help`, and `status` on
 * the embedded store (PGlite) in a fresh home holding the example connector. Wall time from spawn to exit
 * and peak RSS (sampled every 5 ms), median of 5 each; beside node's own start (`node -e 0`).
 */
async function figureCliStart(): Promise<void> {
  const home = await mkdtemp(path.join(os.tmpdir(), 'rp-bench-cli-'));
  const env = { DATABASE_URL: '', REACH_PULLER_HOME: home, REACH_PULLER_ALLOW_PRIVATE_NETWORKS: '127.0.0.0/8' };
  const timed = async (args: string[]) => {
    const started = performance.now();
    const { code, peakMb } = await measuredCli(args, env, 5);
    if (code !== 0) throw new Error(`${args.join(' ')} exited with ${code}`);
    return { seconds: (performance.now() - started) / 1000, peakMb };
  };
  const median = async (args: string[]) => {
    const runs: { seconds: number; peakMb: number }[] = [];
    for (let i = 0; i < 5; i++) runs.push(await timed(args));
    const at = (key: 'seconds' | 'peakMb') => medianOf(runs.map((r) => r[key]));
    return { seconds: round(at('seconds')), peakMb: at('peakMb'), runs: runs.map((r) => round(r.seconds)) };
  };
  try {
    // The store's creation and migrations, and the example connector's two streams for status to show: not counted.
    await timed(['bin/reach-puller.js', 'apply', 'connectors/example-glow-salon.yaml']);
    const node = await median(['-e', '0']);
    const help = await median(['bin/reach-puller.js', '--help']);
    const status = await median(['bin/reach-puller.js', 'status']);
    record({
      figure: '9. CLI start (bin/reach-puller.js, dist/)',
      measured: `--help ${help.seconds} s (${help.peakMb} MB); status, embedded store ${status.seconds} s (${status.peakMb} MB)`,
      reference: `node -e 0: ${node.seconds} s (${node.peakMb} MB)`,
      ratio: null,
      target: '--help < 0.3 s, status < 0.8 s',
      met: help.seconds < 0.3 && status.seconds < 0.8,
      detail: { node, help, status },
    });
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

// Figure 10: the console's overview over CONNECTORS streams, each with run and backfill history.
const OVERVIEW_SAMPLES = 15;
const OVERVIEW_BACKFILLS_PER_STREAM = 3;
const OVERVIEW_CHUNKS_PER_BACKFILL = 8;
const OVERVIEW_TOKEN = 'bench-console-token';

/**
 * Time to the first byte of the console's overview (GET /console after a login, as a browser
 * asks for it) with CONNECTORS streams, each with 10 runs of history, every 20th failing, and
 * 3 finished backfills of 8 chunks (6,000 and 48,000 at 2,000 streams: statuses must not read
 * them): the first page as it opens, sorted by lag, and filtered to the failing ones; beside
 * them one stream's page. Medians of OVERVIEW_SAMPLES requests after one warm-up.
 */
async function figureOverview(): Promise<void> {
  say(`console overview with ${CONNECTORS} streams...`);
  const partnerUrl = await pgPartner('rp_bench_console_partner', 10);
  const { store } = await benchStore('rp_bench_store_console');
  const ids = Array.from({ length: CONNECTORS }, (_, i) => `tenant-${String(i).padStart(5, '0')}`);
  for (let i = 0; i < ids.length; i += 200) {
    await Promise.all(ids.slice(i, i + 200).map((id) => registerBench(store, id, { dialect: 'postgres', url: partnerUrl }, 'schedule: "*/5 * * * *"\nlag_objective_seconds: 600')));
  }
  await sql`
    insert into runs (connector_id, stream, kind, status, started_at, ended_at, rows_read, rows_sent, error_code, error, watermark_after)
    select c.id, 'transactions', 'pull', case when n = 10 and right(c.id, 2)::int % 20 = 0 then 'failed' else 'succeeded' end,
      now() - (11 - n) * interval '5 minutes', now() - (11 - n) * interval '5 minutes' + interval '3 seconds', 100 * n, 90 * n,
      case when n = 10 and right(c.id, 2)::int % 20 = 0 then 'RP_SOURCE_UNREACHABLE' end,
      case when n = 10 and right(c.id, 2)::int % 20 = 0 then 'connection refused' end,
      jsonb_build_object('cursor', to_char((now() - (11 - n) * interval '5 minutes') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), 'key', jsonb_build_array('1'))
    from connectors c cross join generate_series(1, 10) n`.execute(store.db);
  await sql`
    insert into backfills (connector_id, stream, status, checkpoint_rows, rows_estimated, created_at, finished_at)
    select c.id, 'transactions', 'succeeded', 5000, 50000, now() - n * interval '1 day', now() - n * interval '1 day' + interval '10 minutes'
    from connectors c cross join generate_series(1, ${OVERVIEW_BACKFILLS_PER_STREAM}) n`.execute(store.db);
  await sql`
    insert into backfill_chunks (backfill_id, chunk, status, rows_read, rows_sent)
    select b.id, k, 'succeeded', 50000 / ${OVERVIEW_CHUNKS_PER_BACKFILL}, 50000 / ${OVERVIEW_CHUNKS_PER_BACKFILL}
    from backfills b cross join generate_series(0, ${OVERVIEW_CHUNKS_PER_BACKFILL - 1}) k`.execute(store.db);
  await sql`analyze`.execute(store.db);
  const scheduler = new Scheduler({ db: store.db, log });
  const backfills = new BackgroundBackfills({ store: store.db, log });
  const app = buildOpsApi({ db: store.db, scheduler, metrics: new PullerMetrics(), backfills, token: OVERVIEW_TOKEN, log });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    const login = await fetch(`${base}/console/login`, {
      method: 'POST', redirect: 'manual', body: new URLSearchParams({ operator: 'bench', token: OVERVIEW_TOKEN }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base, 'sec-fetch-site': 'same-origin' },
    });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    /** Median ms until the answer's headers (the page is rendered whole before its first byte), and the page's size. */
    const firstByte = async (path: string) => {
      const samples: number[] = [];
      let bytes = 0;
      for (let i = 0; i <= OVERVIEW_SAMPLES; i++) {
        const t0 = performance.now();
        const res = await fetch(`${base}${path}`, { headers: { cookie } });
        const ms = performance.now() - t0;
        if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`);
        bytes = (await res.arrayBuffer()).byteLength;
        if (i > 0) samples.push(ms);
      }
      return { ms: round(medianOf(samples)), bytes };
    };
    const first = await firstByte('/console');
    const byLag = await firstByte('/console?sort=lag&dir=desc');
    const failing = await firstByte('/console?state=failing');
    const streamPage = await firstByte(`/console/streams/${ids[0]}/transactions`);
    const worst = Math.max(first.ms, byLag.ms, failing.ms);
    record({
      figure: `10. console overview, ${CONNECTORS} streams (PostgreSQL store)`,
      measured: `first byte (median of ${OVERVIEW_SAMPLES}): first page ${first.ms} ms, sorted by lag ${byLag.ms} ms, failing only ${failing.ms} ms; a stream's page ${streamPage.ms} ms`,
      reference: '300 ms', ratio: round(worst / 300), target: 'first byte < 300 ms', met: worst < 300,
      detail: {
        streams: CONNECTORS, runsPerStream: 10, finishedBackfills: CONNECTORS * OVERVIEW_BACKFILLS_PER_STREAM,
        backfillChunks: CONNECTORS * OVERVIEW_BACKFILLS_PER_STREAM * OVERVIEW_CHUNKS_PER_BACKFILL,
        firstPageMs: first.ms, byLagMs: byLag.ms, failingMs: failing.ms, streamPageMs: streamPage.ms, pageBytes: first.bytes,
      },
    });
  } finally {
    await app.close();
    await store.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The middle value (of an even count, the upper of the two middle ones). */
function medianOf(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

const started = performance.now();
if (ONLY.has(1)) await figureBackfill('postgres');
if (ONLY.has(2)) await figureBackfill('mysql');
if (ONLY.has(11)) await figureEmbeddedBackfill();
if (ONLY.has(3)) await figureIncremental();
if (ONLY.has(4)) await figureRss();
if (ONLY.has(5)) await figureReachApi();
if (ONLY.has(6)) await figureScheduler();
if (ONLY.has(7)) await figureFirstPull();
if (ONLY.has(8)) await figureVerify();
if (ONLY.has(9)) await figureCliStart();
if (ONLY.has(10)) await figureOverview();

const machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memGb: Math.round(os.totalmem() / 2 ** 30), node: process.version, load: os.loadavg().map(round) };
const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim();
const header = ['figure', 'measured', 'reference', 'ratio', 'target', 'met'];
const widths = header.map((h) => Math.max(h.length, ...figures.map((f) => String(f[h as keyof Figure] ?? '-').length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
process.stdout.write(`${line(header)}\n${line(widths.map((w) => '-'.repeat(w)))}\n`);
for (const f of figures) process.stdout.write(`${line(header.map((h) => String(f[h as keyof Figure] ?? '-')))}\n`);
const result = { command, machine, seconds: round((performance.now() - started) / 1000), at: new Date().toISOString(), figures };
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
await mkdir('bench/results', { recursive: true });
await writeFile('bench/results/latest.json', `${JSON.stringify(result, null, 2)}\n`);
