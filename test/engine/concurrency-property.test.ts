/**
 * The engine's whole promise under concurrency, as a property: random interleavings of
 * partner writes (inserts, updates, soft deletes and their undoing, late commits), pulls
 * from two processes on one PostgreSQL store, throttled backfills beside them, processes
 * that crash mid-run and processes cut off from the store while they go on. Reach applies
 * accepted batches after random delays, so concurrent batches land out of order. Once the
 * writers stop and a final pull has run, every record in the sink equals its row in the
 * view, absent where soft-deleted, on both sinks.
 *
 * The cursor contract every writer keeps (docs/incremental-pulls.md, "the cursor contract"): a row's
 * cursor is no earlier than its commit time minus the settle window.
 *
 * Each of the engine's guards is needed: removing any one of the backfill's settle ceiling,
 * the per-record order (claims), the remembered deletes or the run fencing makes this fail
 * within a few histories (docs/incremental-pulls.md, "One order for every record", lists the check).
 */
import fc from 'fast-check';
import { sql } from 'kysely';
import { startBackfill } from '../../src/backfill/run-backfill.ts';
import { pullConnector } from '../../src/engine/pull-connector.ts';
import type { ReachApiServer } from '../../src/dev/reach-api-server.ts';
import type { RunSummary } from '../../src/engine/run-stream.ts';
import { getConnector, type RegisteredConnector } from '../../src/store/connector-registry.ts';
import { registerHolds, type Hold, type Holds } from '../../src/store/holds.ts';
import { openStore, type Store } from '../../src/store/open-store.ts';
import { RUN_TIMING } from '../../src/store/run-records.ts';
import { openAdminTransaction } from '../helpers/admin-transaction.ts';
import type { Partner } from '../helpers/partner.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { readResources } from '../helpers/resources.ts';
import type { RuntimeEnv } from '../../src/engine/connector-runtime.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { describe, expect, LAB_REACH_TOKEN, test, type Lab, type LabStore } from '../fixture.ts';

const SETTLE_SECONDS = 1;
// Short beats and deadlines, so a crashed run's sends are settled within the history.
Object.assign(RUN_TIMING, { heartbeatMs: 150, sendDeadlineMs: 800, requestGraceMs: 400 });

type Proc = 'A' | 'B';
type Op =
  | { kind: 'write'; id: number; action: 'upsert' | 'delete' | 'undelete'; lagMs: number }
  | { kind: 'late'; id: number; commitAfterMs: number }
  | { kind: 'pull'; proc: Proc }
  | { kind: 'backfill'; proc: Proc; chunks: number; rowsPerSecond: number; pageRows: number }
  | { kind: 'crash'; proc: Proc }
  | { kind: 'cutOff'; proc: Proc }
  | { kind: 'pause'; ms: number };

const proc = fc.constantFrom<Proc>('A', 'B');
// Rows 1-4 exist from the start; 5-8 are born during the history (a record deleted before
// it was ever delivered needs one of these).
const SEEDED_ROWS = 4;
const rowId = fc.integer({ min: 1, max: 8 });
/**
 * The operations of a history. Crashes are half the histories' theme: many crashes hide the
 * races that the other guards are for (a crashed run's records are sent again anyway), so a
 * history either crashes processes often or never.
 */
const opArb = (crashWeight: number): fc.Arbitrary<Op> => fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('write' as const), id: rowId, action: fc.constantFrom('upsert' as const, 'upsert' as const, 'delete' as const, 'undelete' as const), lagMs: fc.integer({ min: 0, max: 900 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('late' as const), id: rowId, commitAfterMs: fc.integer({ min: 100, max: 800 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('pull' as const), proc }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('backfill' as const), proc, chunks: fc.integer({ min: 1, max: 3 }), rowsPerSecond: fc.integer({ min: 1, max: 40 }), pageRows: fc.integer({ min: 1, max: 3 }) }) },
  ...(crashWeight > 0 ? [{ weight: crashWeight, arbitrary: fc.record({ kind: fc.constant('crash' as const), proc }) }] : []),
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cutOff' as const), proc }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('pause' as const), ms: fc.integer({ min: 0, max: 300 }) }) },
);

/**
 * A process learns that its holds session is gone only after a while, as across a network
 * partition (its ping times out): until then it goes on, and only fencing stops its commits.
 */
class SlowToNotice implements Holds {
  readonly exclusive: boolean;
  constructor(private readonly inner: Holds) {
    this.exclusive = inner.exclusive;
  }

  async tryTake(key: string): Promise<Hold | undefined> {
    const hold = await this.inner.tryTake(key);
    if (!hold) return undefined;
    const lost = new AbortController();
    hold.lost.addEventListener('abort', () => setTimeout(() => lost.abort(hold.lost.reason), NOTICE_AFTER_MS), { once: true });
    return { key, lost: lost.signal, release: () => hold.release() };
  }

  isHeld(key: string): Promise<boolean> {
    return this.inner.isHeld(key);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
const NOTICE_AFTER_MS = 1_500;

/**
 * A process of the puller: its own store connections and holds session, named so they can
 * be killed. Both reach Reach by one address (a stream delivers to one target), through a
 * proxy whose connections all end when a process crashes, so what it had in flight dies
 * with it (the other's requests in flight meet a network failure too).
 */
interface Process {
  name: string;
  store: Store;
  runtime: RuntimeEnv;
}

let history = 0;

for (const sink of ['store', 'reach'] as const) {
  describe(`concurrency property (${sink} sink)`, () => {
    test('ends with the sink equal to the view', async ({ lab }) => {
      const partner = await lab.partner('postgres');
      const base = await lab.store();
      await watchForCommitsAfterDeath(base);
      // Reach applies each batch after up to 400 ms, so concurrent batches land out of order.
      const reach = sink === 'reach' ? await lab.reachApi({ maxApplyDelayMs: 400 }) : undefined;
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(0, 3).chain((crashes) => fc.array(opArb(crashes), { minLength: 8, maxLength: 24 })), fc.integer({ min: 2, max: 5 }), async (ops, pageSize) => {
          await runHistory(lab, partner, base, reach, ops, pageSize);
        }),
        { numRuns: Number(process.env.PROPERTY_RUNS ?? 16), endOnFailure: true },
      );
    }, 600_000);
  });
}

async function runHistory(lab: Lab, partner: Partner, base: LabStore, reach: ReachApiServer | undefined, ops: Op[], pageSize: number): Promise<void> {
  const id = `h${++history}${reach ? 'r' : 's'}`;
  // History before the history: every row exists, settled long ago, for backfills to read.
  await lab.view(partner, id, 'id bigint primary key, v integer not null, deleted_at timestamptz null, updated_at timestamptz not null',
    `select g, 0, null, clock_timestamp() - interval '1 minute' + g * interval '1 second' from generate_series(1, ${SEEDED_ROWS}) g`);
  await partner.exec(`create index t_${id}_cursor on t_${id} (updated_at, id)`);
  const connector = await lab.connector(base, partner, {
    id, source: `settle_seconds: ${SETTLE_SECONDS}\nmax_connections: 3`,
    body: `streams:
  - { name: rows, view: v_${id}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: ${pageSize},
      deleted: { column: deleted_at }, fields: { id: id, total_lifetime_value: v } }
`,
  });
  const processes = new Map<Proc, Process>();
  // 60 ms each way: requests are in flight long enough for a crash to catch some of them.
  const reachProxy = reach ? await startTcpProxy(reach.url, 60) : undefined;
  const spawnProcess = async (p: Proc) => {
    const name = `rp-prop-${id}-${p}-${Math.random().toString(36).slice(2, 6)}`;
    const store = await openStore({ databaseUrl: `${base.url}?application_name=${name}`, migrate: false });
    registerHolds(store.db, new SlowToNotice(store.holds));
    processes.set(p, { name, store, runtime: { env: reachEnv(reachProxy?.url) } });
  };
  await spawnProcess('A');
  await spawnProcess('B');
  const background: Promise<unknown>[] = [];
  const late: Promise<void>[] = [];
  // What is still running, by name, so a history that never ends says what it waits for.
  const pending = new Set<string>();
  const track = <T>(label: string, work: Promise<T>): Promise<T> => {
    pending.add(label);
    return work.finally(() => pending.delete(label));
  };
  let counter = 0;
  const stamp = (lagMs: number) => `clock_timestamp() - interval '${lagMs} milliseconds'`;
  const write = (rowId: number, action: 'upsert' | 'delete' | 'undelete', at: string) => {
    const deleted = action === 'delete' ? at : 'null';
    return `insert into t_${id} (id, v, deleted_at, updated_at) values (${rowId}, ${++counter}, ${deleted}, ${at})
      on conflict (id) do update set v = excluded.v, updated_at = excluded.updated_at,
        deleted_at = ${action === 'upsert' ? `t_${id}.deleted_at` : 'excluded.deleted_at'}`;
  };
  const inProcess = (p: Proc) => processes.get(p)!;
  const connectorIn = (store: Store) => getConnector(store.db, connector.id);

  try {
    for (const [index, op] of ops.entries()) {
      await withinOrSay(applyOp(index, op), 60_000, () => `op ${index} (${JSON.stringify(op)}) did not end within 60 s`);
    }
    async function applyOp(index: number, op: Op): Promise<void> {
      switch (op.kind) {
        case 'write':
          await partner.exec(write(op.id, op.action, stamp(op.lagMs)));
          break;
        case 'late': {
          // A transaction that took its stamp when it began, and writes and commits a little later.
          const trx = await openAdminTransaction(partner);
          const [{ at }] = await partner.query<{ at: string }>("select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') as at");
          const rowId = op.id;
          late.push(track(`late write of ${rowId} (op ${index})`, new Promise<void>((resolve, reject) => setTimeout(() => {
            trx.run(write(rowId, 'upsert', `timestamptz '${at}+00'`)).then(() => trx.commit()).then(resolve, reject);
          }, op.commitAfterMs))));
          break;
        }
        case 'pull': {
          const { store, runtime } = inProcess(op.proc);
          background.push(track(`pull in ${op.proc} (op ${index})`, connectorIn(store).then((c) => pullConnector({ store: store.db, connector: c, log: testLog, runtime })).catch(expectedFailure)));
          break;
        }
        case 'backfill': {
          const { store, runtime } = inProcess(op.proc);
          background.push(track(`backfill in ${op.proc} (op ${index})`, startBackfill({ store: store.db, log: testLog, runtime }, {
            connector: connector.id, chunks: op.chunks, maxRowsPerSecond: op.rowsPerSecond, checkpointRows: op.pageRows,
          }).then((h) => h.done).catch(expectedFailure)));
          break;
        }
        case 'crash': {
          // Everything the process had open, in the store and to Reach, ends at once; it starts again.
          const victim = inProcess(op.proc);
          reachProxy?.dropConnections();
          await sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name like ${`${victim.name}%`} and datname = current_database()`.execute(base.db);
          void victim.store.close().catch(() => undefined);
          await spawnProcess(op.proc);
          break;
        }
        case 'cutOff': {
          // Only its holds session ends: it goes on with what it was doing, taken for dead by
          // everyone else, and the other process takes the stream over at once.
          const victim = inProcess(op.proc);
          await sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = ${`${victim.name} holds`} and datname = current_database()`.execute(base.db);
          const { store, runtime } = inProcess(op.proc === 'A' ? 'B' : 'A');
          background.push(track(`takeover pull (op ${index})`, connectorIn(store).then((c) => pullConnector({ store: store.db, connector: c, log: testLog, runtime })).catch(expectedFailure)));
          break;
        }
        case 'pause':
          await new Promise((r) => setTimeout(r, op.ms));
          break;
      }
    }
    await withinOrSay(Promise.all([...late, ...background]), 120_000, () => `still running after 120 s: ${[...pending].join('; ')}`);
    // After the settle window every committed row may be read; then a final pull in a fresh process.
    await new Promise((r) => setTimeout(r, SETTLE_SECONDS * 1000 + 300));
    const final = await openStore({ databaseUrl: base.url, migrate: false });
    const sendsLeft = await base.db.selectFrom('delivery_sends').leftJoin('runs', 'runs.id', 'delivery_sends.run_id')
      .select(['delivery_sends.id', 'delivery_sends.state', 'runs.status', 'runs.error_code', 'runs.heartbeat_at'])
      .where('delivery_sends.connector_id', '=', connector.id).execute();
    try {
      const last = await withinOrSay(pullUntilFree(final, connector, { env: reachEnv(reachProxy?.url) }), 120_000,
        () => `the final pull did not end within 120 s; unsettled sends: ${JSON.stringify(sendsLeft)}`);
      expect(last.error).toBeUndefined();
    } finally {
      await final.close();
    }
    const view = await partner.query<{ id: string; v: number }>(`select id::text, v from v_${id} where deleted_at is null order by id`);
    const want = Object.fromEntries(view.map((r) => [r.id, { id: r.id, total_lifetime_value: Number(r.v) }]));
    const got = reach
      ? (await withinOrSay(reach.settled(), 60_000, () => 'Reach did not finish its batches within 60 s'), Object.fromEntries(reach.resources(connector.tenant, 'contacts')))
      : Object.fromEntries((await readResources(base.db, connector.tenant, 'contacts')).map((r) => [String(r.id), r]));
    expect(got).toEqual(want);
    // Fencing: no run committed progress (a watermark, a delivery) once another had taken it for dead.
    expect((await sql<{ run_id: string }>`select run_id from commits_after_death`.execute(base.db)).rows).toEqual([]);
  } finally {
    await Promise.allSettled(background);
    await Promise.allSettled([...processes.values()].map((p) => p.store.close()));
    await reachProxy?.close();
  }
}

/** `work`, or a failure saying what it waits for once `ms` have passed. */
async function withinOrSay<T>(work: Promise<T>, ms: number, say: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(say())), ms)));
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The environment a process finds Reach through (none: the built-in store). */
function reachEnv(url: string | undefined): NodeJS.ProcessEnv {
  return { ...process.env, REACH_API_URL: url ?? '', REACH_API_TOKEN: url ? LAB_REACH_TOKEN : '' };
}

/**
 * Records, in the test's own store, every commit of a run's progress made after its row was
 * marked dead (a run's checkpoint updates its row in the checkpoint's transaction).
 */
async function watchForCommitsAfterDeath(store: LabStore): Promise<void> {
  await sql`create table commits_after_death (run_id bigint, at timestamptz default clock_timestamp())`.execute(store.db);
  await sql`create function log_commit_after_death() returns trigger language plpgsql as $$
    begin
      if old.status <> 'running' and (new.pages <> old.pages or new.watermark_after is distinct from old.watermark_after) then
        insert into commits_after_death (run_id) values (new.id);
      end if;
      return new;
    end $$`.execute(store.db);
  await sql`create trigger commits_after_death after update on runs for each row execute function log_commit_after_death()`.execute(store.db);
}

/** Runs that could not start or stopped because their process died are part of the history. */
function expectedFailure(error: unknown): void {
  const code = (error as { code?: string }).code;
  if (code === 'RP_STREAM_BUSY' || code === 'RP_BACKFILL_BUSY' || code === 'RP_RUN_FENCED') return;
  // A process killed mid-call: its store connections end under it.
  const message = String((error as Error).message ?? error);
  if (/terminat|Connection|pool|destroyed|ECONNRESET|closed/i.test(message)) return;
  throw error;
}

/** The final pull; another run of the stream may still be finishing (a backfill's chunk does not hold it, a pull does). */
async function pullUntilFree(store: Store, connector: RegisteredConnector, runtime: RuntimeEnv): Promise<RunSummary> {
  for (let attempt = 0; ; attempt++) {
    try {
      const [summary] = await pullConnector({ store: store.db, connector, log: testLog, runtime });
      return summary!;
    } catch (error) {
      if ((error as { code?: string }).code !== 'RP_STREAM_BUSY' || attempt > 50) throw error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
