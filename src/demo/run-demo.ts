/**
 * `reach-puller demo`: the whole job on a laptop, explained as it runs. An embedded partner
 * database, three salons registered from connectors/demo/ with `apply`, a preview, a
 * backfill, the partner's application changing rows (one commits late), incremental
 * pulls, `status`, and where the records went. Nothing keeps running afterwards.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import cliProgress from 'cli-progress';
import { startBackfill } from '../backfill/run-backfill.ts';
import { main } from '../cli/program.ts';
import { printTable } from '../cli/output.ts';
import { startReachApiServer, type ReachApiServer } from '../dev/reach-api-server.ts';
import { pullConnector } from '../engine/pull-connector.ts';
import type { RunSummary } from '../engine/run-stream.ts';
import { PullerError } from '../errors.ts';
import { logger } from '../log.ts';
import { ALLOW_PRIVATE_ENV } from '../security/network-policy.ts';
import { DEV_INSECURE_ENV } from '../security/reach-egress.ts';
import { CONNECTOR_ENV_GRANT } from '../secrets/resolve-secret.ts';
import { getConnector } from '../store/connector-registry.ts';
import { loadWatermark } from '../store/delivery-state.ts';
import { openStore, storeOptionsFromEnv, type Store } from '../store/open-store.ts';
import { DEMO_BUSINESSES, DEMO_CHANGES_SQL, lateCommitSql, startDemoPartner, type DemoPartner } from './demo-partner.ts';

export interface DemoOptions {
  /** Deliver into the local Reach API (src/dev) instead of the built-in store. */
  reachApi?: boolean;
  /** Where the demo explains itself (default stdout). */
  out?: NodeJS.WritableStream;
  /** The directory of connector files (default connectors/demo). */
  connectorsDir?: string;
  /** The embedded partner's port (default DEMO_PARTNER_PORT, the one connectors/demo names). */
  partnerPort?: number;
  /** Home of the embedded store when DATABASE_URL is unset (default ./.reach-puller/demo, recreated). */
  home?: string;
}

/** What a tenant ended up with where the records went. */
export interface DemoTenantResult {
  tenant: string;
  customers: number;
  transactions: number;
  quarantined: number;
}

export interface DemoResult {
  destination: 'store' | 'reach-api';
  tenants: DemoTenantResult[];
  /** Delivered records by tenant, schema and external id (store body or Reach API record). */
  records: Map<string, Map<string, Record<string, unknown>>>;
  /** The partner's views as they stood at the end, read directly. */
  partnerRows: { customers: Record<string, unknown>[]; transactions: Record<string, unknown>[] };
  seconds: number;
}

const TOKEN = 'demo-reach-token';
const PASSWORD_ENV = 'REACH_DEMO_PARTNER_PASSWORD';

/** Runs the demo end to end and returns what was delivered (for the test). */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const out = options.out ?? process.stdout;
  const say = (text = '') => out.write(`${text}\n`);
  const started = performance.now();
  const connectorsDir = options.connectorsDir ?? path.join('connectors', 'demo');
  const restoreEnv = setEnv({
    // The partner is on this machine; the network policy refuses loopback unless allowed.
    [ALLOW_PRIVATE_ENV]: '127.0.0.0/8',
    // The embedded partner asks for no password; the connector files still reference one, as real ones must.
    [PASSWORD_ENV]: 'demo',
    [CONNECTOR_ENV_GRANT]: PASSWORD_ENV,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  });
  let partner: DemoPartner | undefined;
  let api: ReachApiServer | undefined;
  let store: Store | undefined;
  try {
    say('reach-puller demo: pull a partner\'s database views into Reach, end to end, on this machine.');
    say(`(${ALLOW_PRIVATE_ENV}=127.0.0.0/8 is set for this process: the demo partner listens on loopback, which the network policy otherwise refuses.)`);
    say();
    step(say, 1, 'Start the partner\'s database',
      'SalonSoft, a salon software, keeps its salons in shared tables and gives Reach two read-only views,',
      'reach.customers_v and reach.transactions_v. Here it is PostgreSQL 18 in WASM (PGlite), in memory, served on',
      '127.0.0.1:55432 so the puller reaches it through the same driver as a real partner (a few seconds to start).');
    partner = await startDemoPartner(options.partnerPort);
    const seeded = await partner.query<{ business_id: number; customers: number; transactions: number }>(`
      select b.business_id, (select count(*)::int from reach.customers_v c where c.business_id = b.business_id) as customers,
        (select count(*)::int from reach.transactions_v t where t.business_id = b.business_id) as transactions
      from salon.businesses b order by 1`);
    printTable(seeded.map((r) => ({ ...r, salon: DEMO_BUSINESSES.find((b) => b.businessId === r.business_id)?.name })),
      ['business_id', 'salon', 'customers', 'transactions'], out);
    say('The rows are messy on purpose: mixed-case and padded emails, five phone formats, missing names,');
    say('a few phones no one can dial and a few statuses Reach does not know (those end in quarantine).');

    if (options.reachApi) {
      api = await startReachApiServer({ token: TOKEN });
      // A local Reach API speaks plain http on loopback, which the puller allows only when told to.
      restoreEnv.add({ REACH_API_URL: api.url, REACH_API_TOKEN: TOKEN, [DEV_INSECURE_ENV]: '1' });
    }
    const storeOptions = storeOptionsFromEnv();
    if (!storeOptions.databaseUrl) {
      const home = path.resolve(options.home ?? path.join('.reach-puller', 'demo'));
      await rm(home, { recursive: true, force: true });
      restoreEnv.add({ REACH_PULLER_HOME: home });
    }
    say();
    step(say, 2, 'Register the three salons (tenants)',
      `Each file in ${connectorsDir}/ is one tenant's connector: the source, a schedule, and per stream the view,`,
      'the business_id filter, the cursor (updated_at), the primary key and the field mapping onto a Reach schema.',
      storeOptions.databaseUrl
        ? `The state store is the PostgreSQL in DATABASE_URL (${redactUrl(storeOptions.databaseUrl)}).`
        : `The state store is embedded (PGlite) in ${process.env.REACH_PULLER_HOME}, recreated on each demo run.`);
    await cli(say, ['apply', connectorsDir]);

    say();
    step(say, 3, 'Preview one stream before pulling',
      'preview reads a few rows and shows the record each becomes, or why it would be rejected. It sends nothing.');
    await cli(say, ['preview', 'north-cuts-barbers', '--stream', 'customers', '--limit', '4']);

    store = await openStore();
    const db = store.db;
    const log = logger();
    say();
    step(say, 4, 'Backfill the history',
      'A backfill scans each stream in (updated_at, id) order, maps and validates every row, quarantines the bad ones,',
      `and delivers the rest to ${api ? `the local Reach API at ${api.url}` : 'the built-in store (table `resources`)'}, checkpointing every page.`);
    const total = seeded.reduce((n, r) => n + r.customers + r.transactions, 0);
    const bar = progressBar(total);
    let done = 0;
    for (const { tenant } of DEMO_BUSINESSES) {
      for (const stream of ['customers', 'transactions']) {
        const handle = await startBackfill({ store: db, log, onProgress: (p) => bar.update(done + p.rowsDone) }, { connector: tenant, stream });
        const result = await handle.done;
        if (result.state !== 'succeeded') throw new PullerError('RP_DEMO_STEP_FAILED', `demo backfill of ${tenant}/${stream} ${result.state}: ${result.error ?? ''}`);
        done += result.rowsDone;
        bar.update(done);
      }
    }
    bar.stop();
    say(`${done} rows backfilled.`);

    say();
    step(say, 5, 'The partner\'s application changes rows',
      'Bella\'s sale 3 is cancelled (completed -> void, which maps to paid -> cancelled), client 10 changes email,',
      'client 7 gets a phone that can be dialled (its quarantine entry resolves), three new clients and three new sales.');
    await partner.write(DEMO_CHANGES_SQL);
    await sleep(settleMs());
    const begunAt = await partner.now();
    say(`Meanwhile a transaction begins at ${begunAt}: a new sale stamped updated_at = that time, not yet committed.`);

    say();
    step(say, 6, 'Incremental pull',
      'A pull reads only rows after the stream\'s watermark, and only up to the partner\'s clock minus the settle window (3 s),',
      'because a row committed late can carry an updated_at older than rows already read. A backfill never moves the',
      'watermark, so this first pull reads every row once more; content hashes show what changed, and only that is sent.');
    // The late sale's stream first, so its read certainly falls inside the settle window.
    const first = await pullAll(db, log, [{ connector: 'bella-hair-studio', stream: 'transactions' }]);
    printRuns(first, out);
    const mark = await loadWatermark(db, { connectorId: 'bella-hair-studio', stream: 'transactions' });
    await partner.write(lateCommitSql(begunAt));
    say(`The late transaction commits now. bella-hair-studio/transactions' watermark is ${mark?.cursor}, before the sale's`);
    say(`updated_at (${begunAt}): the pull stopped short of rows still settling, so the next pull reads it.`);
    await sleep(settleMs());
    say();
    say('Pull again, once the settle window has passed:');
    const second = await pullAll(db, log, []);
    printRuns(second, out);

    const tenants = await destinationCounts(store, api);
    const records = await deliveredRecords(store, api);
    await store.close();
    store = undefined;

    say();
    step(say, 7, 'Status', 'One row per stream: its last run, its lag behind the partner, its next scheduled run.');
    await cli(say, ['status']);

    say();
    step(say, 8, 'Where the records went');
    if (api) {
      say(`Into the local Reach API at ${api.url} (POST /api/resources/{schema}/batch, ${api.requests.filter((r) => r.method === 'POST').length} batches).`);
    } else {
      say(`Into the built-in store, table resources, in ${storeOptions.databaseUrl ? redactUrl(storeOptions.databaseUrl) : process.env.REACH_PULLER_HOME}.`);
      say('Look at them with: reach-puller resources <tenant> --schema <name> (same REACH_PULLER_HOME or DATABASE_URL).');
    }
    printTable(tenants.map((t) => ({ ...t })), ['tenant', 'customers', 'transactions', 'quarantined'], out);
    const cancelled = records.get('bella-hair-studio/transactions')?.get('3');
    say(`Bella's sale 3 now: ${JSON.stringify(cancelled)}`);
    say('Quarantined rows wait with their reason: reach-puller rejects <connector>. Fix them at the source and the next pull delivers them.');
    const partnerRows = {
      customers: await partner.query<Record<string, unknown>>('select * from reach.customers_v order by customer_id'),
      transactions: await partner.query<Record<string, unknown>>('select * from reach.transactions_v order by transaction_id'),
    };
    const seconds = (performance.now() - started) / 1000;
    say();
    say(`Done in ${seconds.toFixed(1)} s. The partner database${api ? ', the Reach API' : ''} and the store are closed; nothing keeps running.`);
    return { destination: api ? 'reach-api' : 'store', tenants, records, partnerRows, seconds };
  } finally {
    await store?.close();
    await api?.close();
    await partner?.close();
    restoreEnv.restore();
  }
}

function step(say: (text?: string) => void, n: number, title: string, ...lines: string[]): void {
  say(`== ${n}. ${title}`);
  for (const line of lines) say(line);
}

/** Runs a reach-puller command in this process, showing it as typed. */
async function cli(say: (text?: string) => void, argv: string[]): Promise<void> {
  say(`$ reach-puller ${argv.join(' ')}`);
  const code = await main(argv);
  if (code !== 0) throw new PullerError('RP_DEMO_STEP_FAILED', `reach-puller ${argv.join(' ')} exited with ${code}`);
}

const settleMs = () => 3000 + 500;

/** Pulls `first` streams, then every stream of every demo tenant. */
async function pullAll(db: Store['db'], log: ReturnType<typeof logger>, first: { connector: string; stream: string }[]): Promise<RunSummary[]> {
  const runs: RunSummary[] = [];
  for (const { connector, stream } of first) {
    runs.push(...await pullConnector({ store: db, connector: await getConnector(db, connector), stream, log }));
  }
  for (const { tenant } of DEMO_BUSINESSES) {
    const connector = await getConnector(db, tenant);
    for (const stream of connector.config.streams) {
      if (first.some((f) => f.connector === tenant && f.stream === stream.name)) continue;
      runs.push(...await pullConnector({ store: db, connector, stream: stream.name, log }));
    }
  }
  const failed = runs.find((r) => r.status !== 'succeeded');
  if (failed) throw new PullerError('RP_DEMO_STEP_FAILED', `pull of ${failed.connector}/${failed.stream} ${failed.status}: ${failed.error?.message ?? ''}`);
  return runs;
}

function printRuns(runs: RunSummary[], out: NodeJS.WritableStream): void {
  printTable(runs.map((r) => ({
    connector: r.connector, stream: r.stream, read: r.rowsRead, sent: r.rowsSent, unchanged: r.rowsUnchanged, rejected: r.rowsRejected,
    watermark: r.watermarkAfter?.cursor,
  })), ['connector', 'stream', 'read', 'sent', 'unchanged', 'rejected', 'watermark'], out);
}

/** Records per tenant where they went, and open quarantine entries. */
async function destinationCounts(store: Store, api: ReachApiServer | undefined): Promise<DemoTenantResult[]> {
  await api?.settled();
  const rows = await store.db.selectFrom('resources').select(['tenant_id', 'schema_name', (eb) => eb.fn.countAll<string>().as('n')])
    .where('deleted', '=', false).groupBy(['tenant_id', 'schema_name']).execute();
  const open = await store.db.selectFrom('rejected_records').select(['tenant_id', (eb) => eb.fn.countAll<string>().as('n')])
    .where('resolved_at', 'is', null).groupBy('tenant_id').execute();
  const count = (tenant: string, schema: string) => api
    ? api.resources(tenant, schema).size
    : Number(rows.find((r) => r.tenant_id === tenant && r.schema_name === schema)?.n ?? 0);
  return DEMO_BUSINESSES.map(({ tenant }) => ({
    tenant, customers: count(tenant, 'contacts'), transactions: count(tenant, 'transactions'),
    quarantined: Number(open.find((r) => r.tenant_id === tenant)?.n ?? 0),
  }));
}

/** Every delivered record, keyed `tenant/stream` then external id. */
async function deliveredRecords(store: Store, api: ReachApiServer | undefined): Promise<DemoResult['records']> {
  const out: DemoResult['records'] = new Map();
  for (const { tenant } of DEMO_BUSINESSES) {
    for (const [stream, schema] of [['customers', 'contacts'], ['transactions', 'transactions']] as const) {
      let records: Map<string, Record<string, unknown>>;
      if (api) records = api.resources(tenant, schema);
      else {
        const rows = await store.db.selectFrom('resources').select(['external_id', 'body'])
          .where('tenant_id', '=', tenant).where('schema_name', '=', schema).where('deleted', '=', false).execute();
        records = new Map(rows.map((r) => [r.external_id, r.body]));
      }
      out.set(`${tenant}/${stream}`, records);
    }
  }
  return out;
}

/** A bar on a terminal; on a pipe, nothing until the end (the caller prints the total). */
function progressBar(total: number): { update(done: number): void; stop(): void } {
  if (!process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar({
    stream: process.stderr, format: 'backfill [{bar}] {percentage}% | {value}/{total} rows', hideCursor: true,
  }, cliProgress.Presets.shades_classic);
  bar.start(total, 0);
  return { update: (done) => bar.update(Math.min(done, total)), stop: () => bar.stop() };
}

function redactUrl(url: string): string {
  const u = new URL(url);
  return `postgres://${u.host}${u.pathname}`;
}

/** Sets environment variables for the demo's own process and puts the old values back afterwards. */
function setEnv(vars: Record<string, string>): { add(more: Record<string, string>): void; restore(): void } {
  const saved = new Map<string, string | undefined>();
  const add = (more: Record<string, string>) => {
    for (const [key, value] of Object.entries(more)) {
      if (!saved.has(key)) saved.set(key, process.env[key]);
      process.env[key] = value;
    }
  };
  add(vars);
  return {
    add,
    restore: () => {
      for (const [key, value] of saved) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    },
  };
}
