/**
 * `npm run soak [-- --minutes 10 --connectors 200]`: `serve` with many connectors over both
 * dialects for a while, while a fault proxy in front of each partner server black-holes it
 * (15 s every minute) and resets its connections (every 20 s), Reach answers storms of
 * 429/503, and the partners keep changing rows. Then the faults stop, the writers stop, and
 * the figure is whether every stream equals its view in Reach, how many runs failed and
 * recovered, whether any run was left holding its stream, and `serve`'s RSS at start and end.
 * Written to bench/results/soak-latest.json. Databases are named rp_soak_*.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { parseConnector } from '../src/config/load-connectors.ts';
import { startReachApiServer } from '../src/dev/reach-api-server.ts';
import { registerConnectors } from '../src/store/connector-registry.ts';
import { openStore } from '../src/store/open-store.ts';
import { startTcpProxy, type TcpProxy } from '../test/helpers/tcp-proxy.ts';
import { freshPgDatabase, MYSQL_URL, pgExec } from './bench-setup.ts';

const { values: flags } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    connectors: { type: 'string', default: '200' },
    rows: { type: 'string', default: '100' },
  },
});
const MINUTES = Number(flags.minutes);
const CONNECTORS = Number(flags.connectors);
const ROWS = Number(flags.rows);
const TOKEN = 'soak-reach-token';
const ROOT = path.resolve(import.meta.dirname, '..');
const DIALECTS = ['postgres', 'mysql'] as const;
type Dialect = (typeof DIALECTS)[number];

const dialectOf = (i: number): Dialect => (i % 2 === 0 ? 'postgres' : 'mysql');
const tenantOf = (i: number) => `soak-${i}`;

/** Partner databases: one table, one view per connector over its tenant's slice. */
async function partners(): Promise<{ pg: string; my: mysql.Connection }> {
  const pgUrl = await freshPgDatabase('rp_soak_partner');
  const views = Array.from({ length: CONNECTORS }, (_, i) => i).filter((i) => dialectOf(i) === 'postgres')
    .map((i) => `create view v_${i} as select id, email, updated_at from people where tenant = ${i}`);
  await pgExec(pgUrl,
    'create table people (tenant int not null, id bigint not null, email text not null, updated_at timestamptz not null, primary key (tenant, id))',
    `insert into people select t, g, 'u' || g || '@x.io', now() - interval '1 hour' from generate_series(0, ${CONNECTORS - 1}) t, generate_series(1, ${ROWS}) g where t % 2 = 0`,
    'create index people_cursor on people (tenant, updated_at, id)',
    ...views);
  const my = await mysql.createConnection({ uri: MYSQL_URL, multipleStatements: true });
  const myViews = Array.from({ length: CONNECTORS }, (_, i) => i).filter((i) => dialectOf(i) === 'mysql')
    .map((i) => `create view v_${i} as select id, email, updated_at from people where tenant = ${i};`).join('\n');
  await my.query(`drop database if exists rp_soak_partner; create database rp_soak_partner; use rp_soak_partner; set time_zone = '+00:00';
    create table people (tenant int not null, id bigint not null, email varchar(100) not null, updated_at timestamp(6) not null,
      primary key (tenant, id), key people_cursor (tenant, updated_at, id));
    insert into people select t.seq, g.seq, concat('u', g.seq, '@x.io'), utc_timestamp(6) - interval 1 hour
      from seq_0_to_${CONNECTORS - 1} t, seq_1_to_${ROWS} g where t.seq % 2 = 1;
    ${myViews}
    create user if not exists 'rp_bench'@'%' identified by '${process.env.RP_BENCH_PASSWORD}';
    create user if not exists 'rp_bench'@'localhost' identified by '${process.env.RP_BENCH_PASSWORD}';
    grant select on rp_soak_partner.* to 'rp_bench'@'%';
    grant select on rp_soak_partner.* to 'rp_bench'@'localhost';`);
  return { pg: pgUrl, my };
}

function connectorYaml(i: number, ports: Record<Dialect, number>): string {
  const dialect = dialectOf(i);
  const user = dialect === 'postgres' ? 'postgres' : 'rp_bench';
  return `
tenant: ${tenantOf(i)}
source:
  dialect: ${dialect}
  host: 127.0.0.1
  port: ${ports[dialect]}
  database: rp_soak_partner
  user: ${user}
  password: \${env:RP_BENCH_PASSWORD}
  ssl: { mode: disable }
  max_connections: 2
  settle_seconds: 2
  statement_timeout_seconds: 5
  connect_timeout_seconds: 3
schedule: "*/15 * * * * *"
streams:
  - { name: people, view: v_${i}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 50, fields: { id: id, email: email } }
`;
}

/** The partners keep changing rows: a few updates per second on each dialect, and some new rows. */
function startWriters(pgUrl: string, my: mysql.Connection): { stop: () => Promise<number> } {
  let stopped = false;
  let writes = 0;
  const client = new pg.Client({ connectionString: pgUrl });
  const loop = (async () => {
    await client.connect();
    let next = ROWS + 1;
    while (!stopped) {
      const t = Math.floor(Math.random() * CONNECTORS);
      const id = 1 + Math.floor(Math.random() * ROWS);
      const email = `w${writes}@x.io`;
      if (dialectOf(t) === 'postgres') await client.query('update people set email = $1, updated_at = clock_timestamp() where tenant = $2 and id = $3', [email, t, id]);
      else await my.query('update people set email = ?, updated_at = utc_timestamp(6) where tenant = ? and id = ?', [email, t, id]);
      if (writes % 10 === 0) {
        const n = next++;
        const target = Math.floor(Math.random() * CONNECTORS);
        if (dialectOf(target) === 'postgres') await client.query('insert into people values ($1, $2, $3, clock_timestamp())', [target, n, `n${n}@x.io`]);
        else await my.query('insert into people values (?, ?, ?, utc_timestamp(6))', [target, n, `n${n}@x.io`]);
      }
      writes++;
      await sleep(100);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      await client.end();
      return writes;
    },
  };
}

/** The fault schedule, one step per second: black holes, resets, Reach storms. */
function startFaults(proxies: Record<Dialect, TcpProxy>, reach: Awaited<ReturnType<typeof startReachApiServer>>) {
  const counts = { blackHoles: 0, resets: 0, storms: 0 };
  let second = 0;
  const timer = setInterval(() => {
    second++;
    const minute = second % 60;
    // Each partner goes silent for 15 s a minute, half a minute apart.
    if (minute === 5) (proxies.postgres.blackHole(), counts.blackHoles++);
    if (minute === 20) proxies.postgres.restore();
    if (minute === 35) (proxies.mysql.blackHole(), counts.blackHoles++);
    if (minute === 50) proxies.mysql.restore();
    if (second % 20 === 10) {
      proxies.postgres.reset();
      proxies.mysql.reset();
      counts.resets++;
    }
    // A storm of 429/503 every 45 s, for 10 s.
    if (second % 45 === 0) (reach.setFaults({ rate429: 0.3, rate503: 0.3 }), counts.storms++);
    if (second % 45 === 10) reach.setFaults({});
  }, 1000);
  return {
    counts,
    stop: () => {
      clearInterval(timer);
      proxies.postgres.restore();
      proxies.mysql.restore();
      reach.setFaults({});
    },
  };
}

function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Math.round(Number(match[1]) / 1024) : 0;
}

async function viewRows(pgUrl: string, my: mysql.Connection): Promise<Map<number, Map<string, string>>> {
  const byTenant = new Map<number, Map<string, string>>();
  const add = (tenant: number, id: string, email: string) => {
    let rows = byTenant.get(tenant);
    if (!rows) byTenant.set(tenant, (rows = new Map()));
    rows.set(id, email);
  };
  const [pgRows] = await pgExec(pgUrl, 'select tenant, id::text as id, email from people');
  for (const r of pgRows!.rows) add(r.tenant, r.id, r.email);
  const [myRows] = await my.query('select tenant, cast(id as char) as id, email from people');
  for (const r of myRows as { tenant: number; id: string; email: string }[]) add(r.tenant, r.id, r.email);
  return byTenant;
}

async function main(): Promise<void> {
  process.env.RP_BENCH_PASSWORD ??= 'rp-bench-pw';
  const { pg: pgUrl, my } = await partners();
  const storeUrl = await freshPgDatabase('rp_soak_store');
  const reach = await startReachApiServer({ token: TOKEN });
  const proxies = { postgres: await startTcpProxy('http://127.0.0.1:5432'), mysql: await startTcpProxy(MYSQL_URL.replace(/^mysql:/, 'http:')) };
  const store = await openStore({ databaseUrl: storeUrl });
  const loaded = Array.from({ length: CONNECTORS }, (_, i) => parseConnector(`soak-${i}.yaml`, connectorYaml(i, { postgres: proxies.postgres.port, mysql: proxies.mysql.port })));
  const bad = loaded.find((l) => !l.connector);
  if (bad) throw new Error(JSON.stringify(bad.problems));
  await registerConnectors(store.db, loaded.map((l) => l.connector!));

  const serve = spawn(process.execPath, [path.join(ROOT, 'bin/reach-puller.js'), 'serve', '--no-api', '--concurrency', '8', '--refresh-seconds', '5', '--retry-base-ms', '500'], {
    cwd: ROOT,
    env: {
      ...process.env, DATABASE_URL: storeUrl, REACH_API_URL: reach.url, REACH_API_TOKEN: TOKEN, LOG_LEVEL: 'warn',
      REACH_PULLER_ALLOW_PRIVATE_NETWORKS: '127.0.0.0/8', REACH_PULLER_REACH_URLS: 'http://127.0.0.1:*', REACH_PULLER_DEV_INSECURE_REACH: '1',
      REACH_PULLER_CONNECTOR_ENV: 'RP_BENCH_*',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let errorLines = 0;
  serve.stderr.on('data', (d: Buffer) => (errorLines += d.toString().split('\n').filter((l) => l.includes('"level":50')).length));
  const exited = new Promise<number | null>((resolve) => serve.on('exit', (code) => resolve(code)));

  const started = Date.now();
  await sleep(30_000);
  const rssStart = rssMb(serve.pid!);
  const writers = startWriters(pgUrl, my);
  const faults = startFaults(proxies, reach);
  const rssSamples = [rssStart];
  while (Date.now() - started < MINUTES * 60_000) {
    await sleep(10_000);
    rssSamples.push(rssMb(serve.pid!));
  }
  faults.stop();
  const writes = await writers.stop();
  const rssEnd = rssMb(serve.pid!);

  // Converged when every stream in Reach equals its view (or the wait runs out).
  const convergeStarted = Date.now();
  let differing: number[] = [];
  for (;;) {
    await reach.settled();
    const views = await viewRows(pgUrl, my);
    differing = [];
    for (let i = 0; i < CONNECTORS; i++) {
      const want = views.get(i) ?? new Map();
      const got = reach.resources(tenantOf(i), 'contacts');
      const same = got.size === want.size && [...want].every(([id, email]) => (got.get(id) as { email?: string } | undefined)?.email === email);
      if (!same) differing.push(i);
    }
    if (differing.length === 0 || Date.now() - convergeStarted > 180_000) break;
    await sleep(5_000);
  }
  const convergeSeconds = (Date.now() - convergeStarted) / 1000;

  serve.kill('SIGTERM');
  const exitCode = await exited;
  const runs = await store.db.selectFrom('runs').select(['status', 'error_code']).execute();
  const byStatus: Record<string, number> = {};
  const byError: Record<string, number> = {};
  for (const r of runs) {
    byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
    if (r.error_code) byError[r.error_code] = (byError[r.error_code] ?? 0) + 1;
  }
  const parked = await store.db.selectFrom('streams').select('connector_id').where('parked_reason', 'is not', null).execute();

  const result = {
    at: new Date().toISOString(), minutes: MINUTES, connectors: CONNECTORS, rowsPerConnector: ROWS,
    streamsEqualToView: CONNECTORS - differing.length, differing: differing.slice(0, 20).map(tenantOf), convergeSeconds,
    runs: byStatus, failures: byError, runsLeftRunning: byStatus.running ?? 0, parkedStreams: parked.length,
    faults: faults.counts, partnerWrites: writes, serveErrorLogLines: errorLines, serveExitCode: exitCode,
    rssMb: { start: rssStart, end: rssEnd, max: Math.max(...rssSamples) },
  };
  console.log(JSON.stringify(result, null, 2));
  await mkdir(path.join(ROOT, 'bench/results'), { recursive: true });
  await writeFile(path.join(ROOT, 'bench/results/soak-latest.json'), `${JSON.stringify(result, null, 2)}\n`);

  await store.close();
  await my.end();
  await proxies.postgres.close();
  await proxies.mysql.close();
  await reach.close();
  if (differing.length > 0 || (byStatus.running ?? 0) > 0) process.exitCode = 1;
}

await main();
