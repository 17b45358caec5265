/**
 * The one fixture database tests use (vitest `test.extend`): a lab per test file that hands
 * out partner databases and state stores under names unique to this run of the suite (a
 * second copy of the suite on the same servers never meets them), builds tables, views and
 * connectors, pulls, runs the real CLI with a timeout, and starts local Reach APIs.
 *
 * After the file, everything is torn down, even when a test failed: children killed, Reach
 * APIs and stores closed, temp directories removed. Databases are dropped when every test
 * of the file passed and kept otherwise, named on stderr for inspection.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { sql } from 'kysely';
import { afterEach, test as base } from 'vitest';
import { startReachApiServer, type ReachApiServer, type ReachApiServerOptions } from '../src/dev/reach-api-server.ts';
import type { RuntimeEnv } from '../src/engine/connector-runtime.ts';
import { pullConnector } from '../src/engine/pull-connector.ts';
import type { RunSummary } from '../src/engine/run-stream.ts';
import type { RegisteredConnector } from '../src/store/connector-registry.ts';
import { openStore, type Store } from '../src/store/open-store.ts';
import { dropDatabase, PG_URL } from './helpers/databases.ts';
import { freshPartner, type Partner, type PartnerDialect } from './helpers/partner.ts';
import { testLog } from './helpers/quiet-log.ts';
import { freshStore, registerYaml } from './helpers/store.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

/** What a CLI child printed and how it ended. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: NodeJS.ProcessEnv;
  /** The child is killed (SIGKILL) after this long and the test fails (default 60 s). */
  timeoutMs?: number;
  input?: string;
  /** The child's working directory (default: the repository root). */
  cwd?: string;
}

/** A store of the lab: the Store and the URL other processes reach it by. */
export type LabStore = Store & { url: string };

/** A second process's view of a store (Lab.storeProcess). */
export interface StoreProcess {
  store: LabStore;
  /** Ends its holds session only (a network cut): it loses its holds, its runs go on. */
  endHoldsSession(): Promise<void>;
  /** Ends every session it has open, as its death would. */
  endSessions(): Promise<void>;
}

let fileFailed = false;
afterEach(({ task }) => {
  if (task.result?.state === 'fail') fileFailed = true;
});

/** Everything a test file's tests share, created on demand, gone after the file. */
export class Lab {
  /** This run of the suite: part of every database name. */
  readonly run = `${process.pid.toString(36)}${randomBytes(3).toString('hex')}`;
  readonly #file: string;
  readonly #partners = new Map<string, Promise<Partner>>();
  readonly #stores: LabStore[] = [];
  readonly #embedded: Store[] = [];
  readonly #processStores: Store[] = [];
  readonly #databases: { dialect: PartnerDialect; name: string }[] = [];
  readonly #children = new Set<ChildProcess>();
  readonly #reachApis: ReachApiServer[] = [];
  readonly #dirs: string[] = [];
  #counter = 0;

  constructor(file: string) {
    this.#file = file.replace(/[^a-z0-9]/gi, '').toLowerCase().slice(0, 24);
  }

  /** A database name unique to this run: `rp_<file>_<what>_<run>`. */
  databaseName(what: string): string {
    return `rp_${this.#file}_${what}_${this.run}`.slice(0, 63);
  }

  /** A name unique within the file (tables, views, connector ids): `<prefix><n>`. */
  unique(prefix: string): string {
    return `${prefix}${++this.#counter}`;
  }

  /** The file's partner database of a dialect, with the read-only user granted (SQL Server: on the live server, mssql-server.ts). */
  partner(dialect: PartnerDialect = 'postgres', what = 'partner'): Promise<Partner> {
    const key = `${dialect}:${what}`;
    let partner = this.#partners.get(key);
    if (!partner) {
      const name = this.databaseName(`${what}_${{ postgres: 'pg', mysql: 'my', mssql: 'ms' }[dialect]}`);
      this.#databases.push({ dialect, name });
      partner = freshPartner(dialect, name);
      this.#partners.set(key, partner);
    }
    return partner;
  }

  /** A fresh, migrated state store on the real PostgreSQL (one per call). */
  async store(what = 'store'): Promise<LabStore> {
    const name = this.databaseName(`${what}${this.#stores.length || ''}`);
    this.#databases.push({ dialect: 'postgres', name });
    const store = await freshStore(name);
    const url = new URL(PG_URL);
    url.pathname = `/${name}`;
    const labStore = Object.assign(store, { url: url.toString() });
    this.#stores.push(labStore);
    return labStore;
  }

  /**
   * The store as a second process opens it: its own connections and holds session, under an
   * application name unique to this run, so that ending its sessions never touches another
   * copy of the suite's. Closed after the file.
   */
  async storeProcess(store: LabStore, what = 'proc'): Promise<StoreProcess> {
    const name = `rp-${this.run}-${this.unique(what)}`;
    const other = await openStore({ databaseUrl: `${store.url}?application_name=${name}`, migrate: false });
    this.#processStores.push(other);
    // Exact names: `…-proc1%` would also match `…-proc10` (and `_` is a LIKE wildcard).
    const end = async (sessions: string[]) => {
      await sql`select pg_terminate_backend(pid) from pg_stat_activity
        where application_name = any(${sessions}::text[]) and datname = current_database() and pid <> pg_backend_pid()`.execute(store.db);
    };
    return { store: Object.assign(other, { url: store.url }), endHoldsSession: () => end([`${name} holds`]), endSessions: () => end([name, `${name} holds`]) };
  }

  /** A fresh, migrated embedded (PGlite) store in a temporary directory: the store a new user gets. */
  async embeddedStore(): Promise<Store> {
    const store = await openStore({ home: await this.tmpDir(), command: 'test' });
    this.#embedded.push(store);
    return store;
  }

  /** A local Reach API on loopback, closed after the file. */
  async reachApi(options: Partial<ReachApiServerOptions> = {}): Promise<ReachApiServer> {
    const server = await startReachApiServer({ token: LAB_REACH_TOKEN, ...options });
    this.#reachApis.push(server);
    return server;
  }

  /** A temporary directory, removed after the file. */
  async tmpDir(): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), `rp-${this.#file}-`));
    this.#dirs.push(dir);
    return dir;
  }

  /**
   * A table `t_<name>` with `columns`, filled by `fill` (an INSERT ... SELECT tail, or
   * nothing), a view `v_<name>` over it, and SELECT granted to the read-only user.
   */
  async view(partner: Partner, name: string, columns: string, fill?: string): Promise<{ table: string; view: string }> {
    const table = `t_${name}`;
    const view = `v_${name}`;
    await partner.exec(`create table ${table} (${columns})`, `create view ${view} as select * from ${table}`, ...(fill ? [`insert into ${table} ${fill}`] : []));
    await partner.grantReadOnly();
    return { table, view };
  }

  /**
   * Registers a connector on `store` reading `partner`: `body` is the YAML after `source:`
   * (streams, schedule...); `source` adds lines to the source block; `reach` points it at a
   * local Reach API.
   */
  async connector(store: Store, partner: Partner, spec: { id: string; body: string; source?: string; reach?: ReachApiServer; tenant?: string }): Promise<RegisteredConnector> {
    const sourceExtra = (spec.source ?? '').split('\n').filter((l) => l.trim()).map((l) => `  ${l.trim()}`).join('\n');
    const reach = spec.reach ? `reach: { api_url: "${spec.reach.url}", token: "\${env:RP_LAB_REACH_TOKEN}" }\n` : '';
    return registerYaml(store, spec.id, `tenant: ${spec.tenant ?? spec.id}\n${partner.sourceYaml(sourceExtra)}\n${reach}${spec.body}`);
  }

  /** One pull of a connector (every stream, or one), quietly. */
  pull(store: Store, connector: RegisteredConnector, options: { stream?: string; signal?: AbortSignal; runtime?: RuntimeEnv } = {}): Promise<RunSummary[]> {
    return pullConnector({ store: store.db, connector, log: testLog, ...options });
  }

  /** Starts the real CLI (`bin/reach-puller.js`); `result` resolves when it exits. The child is killed after the file at the latest. */
  spawnCli(args: string[], options: CliOptions = {}): { child: ChildProcess; result: Promise<CliResult> } {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/reach-puller.js'), ...args], {
      cwd: options.cwd ?? ROOT,
      env: {
        ...process.env,
        LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
        REACH_PULLER_ALLOW_PRIVATE_NETWORKS: '127.0.0.0/8',
        RP_LAB_REACH_TOKEN: LAB_REACH_TOKEN,
        ...options.env,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.#children.add(child);
    let stdout = '';
    let stderr = '';
    // Decoded across chunks: a character whose bytes straddle two chunks stays whole.
    const outText = new StringDecoder('utf8');
    const errText = new StringDecoder('utf8');
    child.stdout!.on('data', (d: Buffer) => (stdout += outText.write(d)));
    child.stderr!.on('data', (d: Buffer) => (stderr += errText.write(d)));
    child.stdin!.end(options.input ?? '');
    const timeoutMs = options.timeoutMs ?? 60_000;
    const result = new Promise<CliResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`reach-puller ${args.join(' ')} did not end within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`));
      }, timeoutMs);
      child.on('error', reject);
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        this.#children.delete(child);
        resolve({ code, signal, stdout, stderr });
      });
    });
    return { child, result };
  }

  /** Runs the real CLI to its end. */
  cli(args: string[], options: CliOptions = {}): Promise<CliResult> {
    return this.spawnCli(args, options).result;
  }

  /** Tears the lab down; databases go only when every test of the file passed. */
  async close(): Promise<void> {
    for (const child of this.#children) child.kill('SIGKILL');
    await Promise.allSettled(this.#reachApis.map((s) => s.close()));
    await Promise.allSettled([...this.#processStores, ...this.#stores, ...this.#embedded].map((s) => s.close()));
    await Promise.allSettled(this.#dirs.map((d) => rm(d, { recursive: true, force: true })));
    if (fileFailed) {
      process.stderr.write(`[lab] kept for inspection: ${this.#databases.map((d) => `${d.dialect}:${d.name}`).join(', ')}\n`);
      return;
    }
    await Promise.allSettled(this.#databases.map((d) => dropDatabase(d.dialect, d.name)));
  }
}

/** The token every lab Reach API expects; connectors reference it as ${env:RP_LAB_REACH_TOKEN}. */
export const LAB_REACH_TOKEN = 'lab-reach-token-5e1f';
process.env.RP_LAB_REACH_TOKEN = LAB_REACH_TOKEN;

/** `test` with a file-scoped `lab`. */
export const test = base.extend('lab', { scope: 'file' }, async ({}, { onCleanup }) => {
  const lab = new Lab(path.basename(expect.getState().testPath ?? 'test', '.test.ts'));
  onCleanup(() => lab.close());
  return lab;
});

export { describe, expect } from 'vitest';
import { expect } from 'vitest';
