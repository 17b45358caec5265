/**
 * `reach-puller serve` as real processes on one PostgreSQL store: three replicas run each
 * due stream once per tick, a killed replica's stream moves to another at once (its hold
 * ended with its connection), and SIGTERM mid-run stops at a page boundary with a
 * consistent watermark. Nothing is left held when every replica has stopped.
 */
import type { ChildProcess } from 'node:child_process';
import { sql } from 'kysely';
import { loadWatermark } from '../../src/store/delivery-state.ts';
import type { Store } from '../../src/store/open-store.ts';
import { readResources } from '../helpers/resources.ts';
import { registerYaml } from '../helpers/store.ts';
import { describe, expect, test, type Lab } from '../fixture.ts';
import { customersConnector, customersView, waitFor, type LogEvent } from './ops-fixtures.ts';

interface Replica {
  process: ChildProcess;
  events: LogEvent[];
  exited: Promise<number | null>;
}

// Child processes start slowly on a loaded two-core machine: generous per-test timeouts.
const SLOW = { timeout: 150_000 };

const SKIPS = ['skipped: stream is still running', 'skipped: stopping',
  'skipped: another run of the stream is in progress (this replica or another)', 'skipped: the source is at its connection cap across replicas'];

describe('serve replicas', () => {
  /** A `serve` process on the store at `databaseUrl`; the lab kills it after the file at the latest. */
  function serve(lab: Lab, databaseUrl: string): Replica {
    const { child, result } = lab.spawnCli(['serve', '--no-api', '--refresh-seconds', '1'], {
      env: { DATABASE_URL: databaseUrl, LOG_LEVEL: 'info' }, timeoutMs: SLOW.timeout + 30_000,
    });
    const events: LogEvent[] = [];
    let rest = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop()!;
      for (const line of lines) if (line.startsWith('{')) events.push(JSON.parse(line) as LogEvent);
    });
    const exited = result.then((r) => r.code);
    // Awaited by the tests that stop it; a replica left running when a test failed is killed by the lab.
    exited.catch(() => undefined);
    return { process: child, events, exited };
  }

  const runsOf = (s: Store, connector: string) =>
    s.db.selectFrom('runs').selectAll().where('connector_id', '=', connector).orderBy('id').execute();

  /** Advisory locks (holds) any session keeps in the store's database. */
  const holdsLeft = async (s: Store) => {
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_locks
      where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())`.execute(s.db);
    return rows[0]!.n;
  };

  test('three replicas run each due stream exactly once per tick', SLOW, async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const s = await lab.store();
    const url = s.url;
    const ids = ['once1', 'once2', 'once3'];
    for (const id of ids) {
      await customersView(partner, id, 5);
      await registerYaml(s, id, customersConnector(partner, id, { schedule: '* * * * * *' }));
    }
    const three = [serve(lab, url), serve(lab, url), serve(lab, url)];
    await waitFor('four runs of every connector', async () => {
      for (const id of ids) if ((await runsOf(s, id)).length < 4) return false;
      return true;
    }, 60_000);
    for (const r of three) r.process.kill('SIGTERM');
    expect(await Promise.all(three.map((r) => r.exited))).toEqual([0, 0, 0]);

    const events = three.flatMap((r) => r.events);
    for (const id of ids) {
      const claims = events.filter((e) => e.msg === 'tick claimed' && e.connector === id).map((e) => e.tick);
      expect(new Set(claims).size, `ticks of ${id} claimed twice`).toBe(claims.length);
      const skipped = events.filter((e) => SKIPS.includes(e.msg) && e.connector === id).length;
      const runs = await runsOf(s, id);
      // Each claimed tick started exactly one run, or was skipped and said so.
      expect(runs.length).toBe(claims.length - skipped);
      for (let i = 1; i < runs.length; i++) expect(runs[i]!.started_at.getTime()).toBeGreaterThanOrEqual(runs[i - 1]!.ended_at!.getTime());
      expect(runs.every((r) => r.status === 'succeeded' || r.status === 'cancelled')).toBe(true);
    }
    expect(await holdsLeft(s)).toBe(0);
  });

  test('moves a killed replica\'s stream to another replica at once', SLOW, async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const s = await lab.store();
    const url = s.url;
    await customersView(partner, 'kill', 24, 0.3);
    const connector = await registerYaml(s, 'kill', customersConnector(partner, 'kill', { schedule: '* * * * * *', pageSize: 3 }));
    const three = [serve(lab, url), serve(lab, url), serve(lab, url)];
    let owner = '';
    await waitFor('a run past its first page', async () => {
      const running = (await runsOf(s, 'kill')).find((r) => r.status === 'running' && r.pages >= 1);
      owner = running?.owner ?? '';
      return Boolean(running);
    }, 60_000);
    const pid = Number(owner.split(':')[1]);
    const victim = three.find((r) => r.process.pid === pid)!;
    victim.process.kill('SIGKILL');
    const killedAt = new Date();
    const survivors = three.filter((r) => r !== victim);
    await waitFor('a survivor to finish the stream', async () =>
      (await runsOf(s, 'kill')).some((r) => r.status === 'succeeded' && r.started_at > killedAt), 60_000);
    const runs = await runsOf(s, 'kill');
    // Taken over at the next tick, not after a lease ran out: the dead run's hold ended with its connection.
    const takeover = runs.find((r) => r.started_at > killedAt)!;
    expect(takeover.started_at.getTime() - killedAt.getTime()).toBeLessThan(5_000);
    expect(runs.find((r) => r.started_at < killedAt && r.error_code === 'RP_RUN_ABANDONED')).toBeDefined();
    // The store records the run before the survivor's log line has come through its pipe.
    await waitFor('a survivor to log the run', async () =>
      survivors.flatMap((r) => r.events).some((e) => e.msg === 'run succeeded' && e.connector === 'kill'), 10_000);
    const expected = (await partner.query<{ id: string; email: string }>('select id::text, email from t_kill order by updated_at'));
    expect(await readResources(s.db, connector.tenant, 'contacts')).toEqual(expected.map((r) => ({ id: r.id, email: r.email })));
    for (const r of survivors) r.process.kill('SIGTERM');
    expect(await Promise.all(survivors.map((r) => r.exited))).toEqual([0, 0]);
  });

  test('stops on SIGTERM after the current page with a consistent watermark', SLOW, async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const s = await lab.store();
    const url = s.url;
    await customersView(partner, 'term', 30, 0.3);
    const connector = await registerYaml(s, 'term', customersConnector(partner, 'term', { schedule: '* * * * * *', pageSize: 3 }));
    const one = serve(lab, url);
    await waitFor('a run past its second page', async () =>
      (await runsOf(s, 'term')).some((r) => r.status === 'running' && r.pages >= 2), 60_000);
    one.process.kill('SIGTERM');
    expect(await one.exited).toBe(0);
    const [run] = await runsOf(s, 'term');
    expect(run!.status).toBe('cancelled');
    const watermark = await loadWatermark(s.db, { connectorId: 'term', stream: 'customers' });
    const last = Number(watermark!.key[0]);
    // A page boundary: pages are 3 rows in id order, and the run did not finish.
    expect(last % 3).toBe(0);
    expect(last).toBeLessThan(30);
    expect(run!.rows_read).toBe(String(last));
    const delivered = await readResources(s.db, connector.tenant, 'contacts');
    expect(delivered.map((r) => r.id)).toEqual(Array.from({ length: last }, (_, i) => String(i + 1)));
    expect(await holdsLeft(s)).toBe(0);
  });
});
