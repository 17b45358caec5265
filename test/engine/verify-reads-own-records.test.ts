/**
 * Verify compares each range of the view with the built-in store's records of that range
 * only. Found measuring bench figure 8 (1M rows: 245 s, 7x the backfill): the comparison
 * joined a range's records with `resources` by a hash join that read every record of the
 * tenant and schema once per range, whenever the planner took the table for small (one not
 * analyzed since a backfill filled it), so a verify's time grew with the square of the store.
 * Held under every statistics state the table can be in (review 8b).
 */
import { sql } from 'kysely';
import pg from 'pg';
import { verifyConnector } from '../../src/engine/verify.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { describe, expect, test } from '../fixture.ts';

const VIEW_ROWS = 600;
const PAGE = 100;
const OTHER_RECORDS = 30_000;
type StatsState = 'never analyzed' | 'analyzed while small' | 'analyzed when full' | 'vacuum analyzed when full';
const STATES: StatsState[] = ['never analyzed', 'analyzed while small', 'analyzed when full', 'vacuum analyzed when full'];

describe('verify, built-in store sink: reads about one stored record per view row, however many records of the schema the store holds', () => {
  for (const state of STATES) {
    test(state, { timeout: 120_000 }, async ({ lab }) => {
      const partner = await lab.partner('postgres');
      const store = await lab.store();
      await sql`alter table resources set (autovacuum_enabled = false)`.execute(store.db);
      const name = lab.unique('vst');
      await lab.view(partner, name, 'id bigint primary key, first_name text, updated_at timestamp(6) not null',
        `select g, 'p' || g, now() - interval '1 hour' + g * interval '1 millisecond' from generate_series(1, ${VIEW_ROWS}) g`);
      const connector = await lab.connector(store, partner, {
        id: name, source: 'settle_seconds: 0',
        body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: ${PAGE}, fields: { id: id, first_name: first_name } }
`,
      });
      expect(await lab.pull(store, connector)).toMatchObject([{ status: 'succeeded', rowsSent: VIEW_ROWS }]);
      // On one session, whose counts are flushed before the verify is measured: the inserts read
      // `resources` too (once per record, by key), and a session that stays open sends its counts
      // up to 10 s later, which under load landed inside the verify's count (seen in CI: 31,800).
      await store.db.connection().execute(async (db) => {
        if (state === 'analyzed while small') await sql`analyze resources`.execute(db);
        // Other streams' records of the same tenant and schema, and another tenant's of another schema.
        await sql`insert into resources (tenant_id, schema_name, external_id, body, version, stream_versions, deleted, updated_at)
          select tenant_id, schema_name, 'other-' || g, body, version, '{"other/stream": "0"}'::jsonb, false, now()
          from resources, generate_series(1, ${OTHER_RECORDS}) g where tenant_id = ${connector.tenant} and external_id = '1'`.execute(db);
        await sql`insert into resources (tenant_id, schema_name, external_id, body, version, stream_versions, deleted, updated_at)
          select 'other-tenant', 'transactions', g::text, body, version, '{}'::jsonb, false, now()
          from resources, generate_series(1, ${OTHER_RECORDS}) g where tenant_id = ${connector.tenant} and external_id = '1'`.execute(db);
        if (state === 'analyzed when full') await sql`analyze resources`.execute(db);
        if (state === 'vacuum analyzed when full') await sql`vacuum analyze resources`.execute(db);
        await sql`select pg_stat_force_next_flush()`.execute(db);
      });

      const before = await recordsRead(store.url);
      const verifier = await lab.storeProcess(store, 'verify');
      const [report] = await verifyConnector({ store: verifier.store.db, connector, log: testLog });
      expect(report).toMatchObject({ viewRows: VIEW_ROWS, differences: 0 });
      expect(report!.ranges).toBeGreaterThanOrEqual(VIEW_ROWS / PAGE);
      // Its sessions end, so their counts reach the statistics.
      await verifier.endSessions();
      const read = (await recordsRead(store.url)) - before;
      // One probe per view row (and per digest check); a scan per range would read 6 x 60,600.
      expect(read).toBeGreaterThanOrEqual(VIEW_ROWS);
      expect(read).toBeLessThan(3 * VIEW_ROWS);
    });
  }
});

/** Rows of `resources` read by scans and index fetches, as the statistics count them. */
async function recordsRead(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    let last: string | undefined;
    for (let attempt = 0; ; attempt++) {
      const { rows } = await client.query<{ n: string; sessions: string }>(`
        select (select coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) from pg_stat_user_tables where relname = 'resources')::text as n,
          (select count(*) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and application_name like 'rp-%verify%')::text as sessions`);
      // Counts are flushed as a session ends, and a session leaves pg_stat_activity a moment
      // before its counts arrive: wait until the verify's sessions are gone and the count holds.
      if ((rows[0]!.sessions === '0' && rows[0]!.n === last) || attempt === 50) return Number(rows[0]!.n);
      last = rows[0]!.sessions === '0' ? rows[0]!.n : undefined;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await client.end();
  }
}
