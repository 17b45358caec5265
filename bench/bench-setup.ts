/**
 * Databases for the benchmarks: the partner's 9-column transactions view on the local
 * PostgreSQL and MariaDB, fresh state stores, COPY targets, and connector registration.
 */
import { spawn } from 'node:child_process';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { parseConnector } from '../src/config/load-connectors.ts';
import { registerConnectors } from '../src/store/connector-registry.ts';
import { openStore, type Store } from '../src/store/open-store.ts';

export const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/mysql';
process.env.RP_BENCH_PASSWORD ??= 'rp-bench-pw';
process.env.REACH_PULLER_ALLOW_PRIVATE_NETWORKS ??= '127.0.0.0/8';
// The local Reach API of figure 5 speaks plain http on a random loopback port.
process.env.REACH_PULLER_REACH_URLS ??= 'http://127.0.0.1:*';
process.env.REACH_PULLER_DEV_INSECURE_REACH ??= '1';
// The bench connectors name their password and token as ${env:RP_BENCH_...}.
process.env.REACH_PULLER_CONNECTOR_ENV ??= 'RP_BENCH_*';

export function pgUrl(database: string): string {
  const u = new URL(PG_URL);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Runs statements on a PostgreSQL database. */
export async function pgExec(url: string, ...statements: string[]): Promise<pg.QueryResult[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const out: pg.QueryResult[] = [];
    for (const s of statements) out.push(await client.query(s));
    return out;
  } finally {
    await client.end();
  }
}

export async function freshPgDatabase(name: string): Promise<string> {
  await pgExec(PG_URL, `drop database if exists "${name}" with (force)`, `create database "${name}"`);
  return pgUrl(name);
}

export const COLUMNS = `id bigint primary key, customer_id bigint not null, location_id bigint not null, amount numeric(12,2) not null,
  tax numeric(12,2) not null, currency text not null, status text not null, created_at timestamptz not null, updated_at timestamptz not null`;
export const SELECT_COLUMNS = 'id, customer_id, location_id, amount, tax, currency, status, created_at, updated_at';

/** A fresh PostgreSQL partner database with `tx_v` of `rows` rows, index on (updated_at, id). */
export async function pgPartner(name: string, rows: number): Promise<string> {
  const url = await freshPgDatabase(name);
  await pgExec(url,
    `create table tx (${COLUMNS})`,
    `insert into tx select g, g % 50000, g % 40, (g % 100000) / 100.0 + 5, (g % 1000) / 100.0, 'USD',
       (array['completed','open','void'])[1 + g % 3], timestamptz '2024-01-01' + g * interval '1 second',
       timestamptz '2024-01-01' + g * interval '2 seconds' from generate_series(1, ${rows}) g`,
    'create index tx_updated_at_id on tx (updated_at, id)',
    'create view tx_v as select * from tx',
    'vacuum analyze tx');
  return url;
}

/** A fresh MariaDB partner database with `tx_v` of `rows` rows (seq_1_to_N generates them). */
export async function mysqlPartner(name: string, rows: number): Promise<string> {
  const conn = await mysql.createConnection({ uri: MYSQL_URL, multipleStatements: true });
  try {
    await conn.query(`drop database if exists \`${name}\`; create database \`${name}\`; use \`${name}\`; set time_zone = '+00:00';
      create table tx (id bigint primary key, customer_id bigint not null, location_id bigint not null, amount decimal(12,2) not null,
        tax decimal(12,2) not null, currency varchar(3) not null, status varchar(16) not null, created_at timestamp(6) not null,
        updated_at timestamp(6) not null, key tx_updated_at_id (updated_at, id));
      insert into tx select seq, seq % 50000, seq % 40, (seq % 100000) / 100.0 + 5, (seq % 1000) / 100.0, 'USD',
        elt(1 + seq % 3, 'completed', 'open', 'void'), timestamp '2024-01-01 00:00:00' + interval seq second,
        timestamp '2024-01-01 00:00:00' + interval (2 * seq) second from seq_1_to_${rows};
      create view tx_v as select * from tx;
      create user if not exists 'rp_bench'@'%' identified by '${process.env.RP_BENCH_PASSWORD}';
      create user if not exists 'rp_bench'@'localhost' identified by '${process.env.RP_BENCH_PASSWORD}';
      grant select on \`${name}\`.* to 'rp_bench'@'%';
      grant select on \`${name}\`.* to 'rp_bench'@'localhost';`);
  } finally {
    await conn.end();
  }
  // The puller reads as a SELECT-only user, as partners hand out.
  const u = new URL(MYSQL_URL);
  u.username = 'rp_bench';
  u.pathname = `/${name}`;
  return u.toString();
}

/** A fresh store database with a COPY target table shaped like the view. */
export async function benchStore(name: string): Promise<{ store: Store; url: string }> {
  const url = await freshPgDatabase(name);
  await pgExec(url, `create table copy_target (${COLUMNS.replace(' primary key', '')})`);
  return { store: await openStore({ databaseUrl: url }), url };
}

/** Registers a connector reading `tx_v` of a partner database (settle window `settleSeconds`, default 0). */
export async function registerBench(
  store: Store, id: string, source: { dialect: 'postgres' | 'mysql'; url: string }, extra = '', settleSeconds = 0,
): Promise<void> {
  const u = new URL(source.url);
  const yaml = `
tenant: ${id}
source:
  dialect: ${source.dialect}
  host: ${u.hostname}
  port: ${u.port || (source.dialect === 'postgres' ? 5432 : 3306)}
  database: ${u.pathname.slice(1)}
  user: ${decodeURIComponent(u.username)}
  password: \${env:RP_BENCH_PASSWORD}
  ssl: { mode: disable }
  max_connections: 2
  settle_seconds: ${settleSeconds}
  # Kept from when a backfill chunk was one streamed statement (the default 60 s would have
  # cancelled a long one); backfills now read keyset pages, each its own short statement.
  statement_timeout_seconds: 3600
${extra}
streams:
  - name: transactions
    view: tx_v
    schema: transactions
    primary_key: [id]
    cursor: updated_at
    page_size: 5000
    fields:
      id: id
      customer_id: { column: customer_id, transform: [string] }
      amount: { column: amount, transform: [decimal] }
      currency: currency
      status: { column: status, transform: [{ map: { completed: paid, open: unpaid, void: cancelled } }] }
      created_at: { column: created_at, transform: [iso8601] }
`;
  const { connector, problems } = parseConnector(`${id}.yaml`, yaml);
  if (!connector) throw new Error(JSON.stringify(problems));
  await registerConnectors(store.db, [connector]);
}

/** Runs `producer | consumer` (two argv lists) and resolves with the seconds it took. */
export async function pipeline(producer: string[], consumer: string[]): Promise<number> {
  const started = performance.now();
  const a = spawn(producer[0]!, producer.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  const b = spawn(consumer[0]!, consumer.slice(1), { stdio: ['pipe', 'ignore', 'inherit'] });
  a.stdout.pipe(b.stdin);
  const exit = (p: ReturnType<typeof spawn>, name: string) => new Promise<void>((resolve, reject) => {
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${name} exited with ${code}`))));
  });
  await Promise.all([exit(a, producer[0]!), exit(b, consumer[0]!)]);
  return (performance.now() - started) / 1000;
}

/** psql argv for a database URL and one command. */
export function psql(url: string, command: string): string[] {
  return ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', url, '-c', command];
}
