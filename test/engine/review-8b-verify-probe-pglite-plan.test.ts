/**
 * Review 8b: on the embedded store (PGlite, no statistics collector to count reads) the probe's
 * plan, as verify builds it, is an index probe per record, before and after ANALYZE.
 */
import { sql } from 'kysely';
import { describe, expect, test } from '../fixture.ts';

describe('review 8b: the probe of resources on the embedded store', () => {
  test('an index scan per record, never a scan of the schema', { timeout: 120_000 }, async ({ lab }) => {
    const store = await lab.embeddedStore();
    await sql`insert into resources (tenant_id, schema_name, external_id, body, version, stream_versions, deleted, updated_at)
      select 't', 'contacts', g::text, jsonb_build_object('id', g::text, 'first_name', 'p' || g), '0', '{}'::jsonb, false, now()
      from generate_series(1, 30000) g`.execute(store.db);
    const records = JSON.stringify(Array.from({ length: 100 }, (_, i) => ({ id: String(i * 7), body: { id: String(i * 7), first_name: `p${i * 7}` } })));
    const plan = async () => (await sql<{ 'QUERY PLAN': string }>`explain
      select x.id from jsonb_to_recordset(${records}::jsonb) as x(id text, body jsonb)
      left join lateral (
        select r.external_id, r.body, r.deleted from resources r
        where r.tenant_id = ${'t'} and r.schema_name = ${'contacts'} and r.external_id = x.id limit 1) r on true
      where r.external_id is null or r.deleted or exists (
        select 1 from jsonb_each(x.body) f
        where case when f.value = 'null'::jsonb then r.body ? f.key else (r.body -> f.key) is distinct from f.value end)`.execute(store.db))
      .rows.map((r) => r['QUERY PLAN']).join('\n');
    for (const stage of ['unanalyzed', 'analyzed']) {
      if (stage === 'analyzed') await sql`analyze resources`.execute(store.db);
      const text = await plan();
      expect(text, `${stage}:\n${text}`).toMatch(/Index Scan using resources_pkey/);
      expect(text, `${stage}:\n${text}`).not.toMatch(/Seq Scan on resources/);
    }
  });
});
