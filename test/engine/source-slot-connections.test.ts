/**
 * Review 8c: `connection count <= max_connections` on the partner, counted in pg_stat_activity,
 * when a command run by hand (another process) takes the slot a finished run of a busy
 * process gave back. A process's runs of one source share one pool (source-pools.ts): a run
 * that ends gives back its slot, but its connection may stay open in that pool while another
 * run of the process still reads.
 */
import { startBackfill } from '../../src/backfill/run-backfill.ts';
import { pullConnector } from '../../src/engine/pull-connector.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { customersView, sleep, waitFor } from '../scheduler/ops-fixtures.ts';
import type { Partner } from '../helpers/partner.ts';
import { describe, expect, test } from '../fixture.ts';

/** Samples the puller's sessions on the partner (pg_stat_activity) every 25 ms; `stop` gives the most seen. */
function sampleSessions(partner: Partner): { stop(): Promise<number> } {
  let most = 0;
  let sampling = true;
  const sessions = async () => Number((await partner.query<{ n: string }>(
    `select count(*)::text as n from pg_stat_activity where datname = '${partner.database}' and application_name = 'reach-puller'`))[0]!.n);
  const loop = (async () => {
    while (sampling) {
      most = Math.max(most, await sessions());
      await sleep(25);
    }
  })();
  return {
    async stop() {
      sampling = false;
      await loop;
      return most;
    },
  };
}

describe('review 8c: partner sessions beside a busy process', () => {
  test('a pull by hand in a slot another process gave back never makes the partner sessions exceed max_connections', { timeout: 90_000 }, async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const slow = lab.unique('slow');
    const fast = lab.unique('fast');
    // Every query of the slow view sleeps 6 s: its pull reads on while the rest happens. The other
    // sleeps 1 s a query, so the pull by hand keeps its session long enough to be counted.
    await customersView(partner, slow, 5, 6);
    await customersView(partner, fast, 5, 1);
    const connector = await lab.connector(store, partner, {
      id: lab.unique('pool'), source: 'max_connections: 2\nsettle_seconds: 0',
      body: `streams:
  - { name: slow, view: v_${slow}, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: id, email: email } }
  - { name: fast, view: v_${fast}, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: id, email: email } }
`,
    });
    const sampler = sampleSessions(partner);
    let most: number;
    try {
      // A serve replica: one run per stream, each in its own slot, on the process's one pool.
      const slowPull = pullConnector({ store: store.db, connector, stream: 'slow', log: testLog });
      const [fastRun] = await pullConnector({ store: store.db, connector, stream: 'fast', log: testLog });
      expect(fastRun).toMatchObject({ status: 'succeeded' });
      // The fast run gave its slot back; the slow one reads on. A pull by hand (its own process, its own pool) takes the free slot.
      const byHand = await lab.cli(['pull', connector.id, '--stream', 'fast', '--json'], { env: { DATABASE_URL: store.url } });
      expect(byHand.code, byHand.stderr).toBe(0);
      expect(await slowPull).toMatchObject([{ status: 'succeeded' }]);
    } finally {
      most = await sampler.stop();
    }
    expect(most).toBeLessThanOrEqual(2);
  });

  test('a pull by hand beside a backfill whose first chunk ended never makes the partner sessions exceed max_connections', { timeout: 120_000 }, async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const name = lab.unique('bf');
    // Rows 1-20 read at once; each of rows 21-40 costs 0.15 s: the upper chunk reads on after the lower one ended.
    await partner.exec(
      `create table t_${name} (id bigint primary key, email text, updated_at timestamptz not null)`,
      `insert into t_${name} select i, 'u' || i || '@x.io', timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second' from generate_series(1, 40) i`,
      `create function ${name}_slow() returns boolean language sql volatile as $$ select pg_sleep(0.15); select true $$`,
      `create view v_${name} as select id, email, updated_at from t_${name} where id <= 20 or ${name}_slow()`,
    );
    await partner.grantReadOnly();
    const connector = await lab.connector(store, partner, {
      id: name, source: 'max_connections: 2\nsettle_seconds: 0',
      body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 5, fields: { id: id, email: email } }
`,
    });
    const backfill = await startBackfill({ store: store.db, log: testLog }, { connector: connector.id, chunks: 2, checkpointRows: 5 });
    const sampler = sampleSessions(partner);
    let most: number;
    try {
      const chunks = () => store.db.selectFrom('runs').select(['status']).where('connector_id', '=', connector.id).where('kind', '=', 'backfill').execute();
      await waitFor('the lower chunk to end', async () => (await chunks()).some((r) => r.status === 'succeeded'), 60_000);
      expect((await chunks()).filter((r) => r.status === 'running')).toHaveLength(1);
      // Its slot is free: a pull by hand (its own process) takes it.
      const byHand = await lab.cli(['pull', connector.id, '--json'], { env: { DATABASE_URL: store.url }, timeoutMs: 90_000 });
      expect(byHand.code, byHand.stderr).toBe(0);
      expect(await backfill.done).toMatchObject({ state: 'succeeded' });
    } finally {
      most = await sampler.stop();
    }
    expect(most).toBeLessThanOrEqual(2);
  });
});
