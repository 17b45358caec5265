/**
 * The built-in resource store: the sink used when no Reach API is configured. Records land
 * in the state store's `resources` table with Reach's merge semantics, inside the
 * transaction that commits the page's checkpoint: a page is delivered exactly once.
 *
 * A version guard keeps the newest source version: an upsert or delete whose version is
 * older than the stored one (a backfill racing a scheduled pull) changes nothing.
 *
 * A page is written in bulk: COPY into a staging table (copy-in.ts), then one merge of the
 * whole page, upserts and tombstones alike.
 */
import { sql, type Transaction } from 'kysely';
import { copyRows, type CopyField } from '../../store/copy-in.ts';
import type { StoreSchema } from '../../store/schema.ts';
import type { SinkPage, TransactionalSink } from '../sink.ts';

const PAGE_COLUMNS = ['external_id', 'body', 'version', 'deleted', 'has_nulls'] as const;

export class StoreSink implements TransactionalSink {
  readonly kind = 'store' as const;
  readonly target = 'store';

  async write(trx: Transaction<StoreSchema>, page: SinkPage): Promise<number> {
    const rows: CopyField[][] = [];
    let withNulls = false;
    for (const u of page.upserts) {
      // A top-level null field shows in the text as `":null`; a nested null or such a string
      // only costs the check below, which looks at the stored top-level fields.
      const nulls = u.json.includes('":null');
      withNulls ||= nulls;
      rows.push([u.externalId, u.json, u.version, false, nulls]);
    }
    for (const d of page.deletes) rows.push([d.externalId, '{}', d.version, true, false]);
    if (rows.length === 0) return 0;
    // One per session, emptied by every commit: no catalog writes per page.
    await sql`create temp table if not exists rp_store_page (external_id text not null, body jsonb not null,
      version text not null, deleted boolean not null, has_nulls boolean not null) on commit delete rows`.execute(trx);
    await copyRows(trx, 'rp_store_page', PAGE_COLUMNS, rows);
    // Merge like Reach's upsert (a PATCH): fields left out are kept, a field sent as null is
    // deleted (below). A delete leaves a tombstone with an empty body that keeps its version,
    // so an older upsert cannot resurrect it, and a newer one merged into it starts afresh.
    // The merge reads the stored row under its lock (ON CONFLICT), so concurrent writers cannot lose fields.
    const r = await sql`
      insert into resources (tenant_id, schema_name, external_id, body, version, deleted, updated_at)
      select ${page.tenant}, ${page.schema}, x.external_id, x.body, x.version, x.deleted, now() from rp_store_page x
      on conflict (tenant_id, schema_name, external_id) do update set
        body = case when excluded.deleted then '{}'::jsonb else resources.body || excluded.body end,
        version = excluded.version, deleted = excluded.deleted, updated_at = now()
      where resources.version <= excluded.version collate "C"`.execute(trx);
    if (withNulls) {
      // Null fields mean "absent": dropped once merged (a new record was inserted as sent).
      await sql`
        update resources r set body = jsonb_strip_nulls_top(r.body) from rp_store_page x
        where x.has_nulls and r.tenant_id = ${page.tenant} and r.schema_name = ${page.schema} and r.external_id = x.external_id
          and exists (select from jsonb_each(r.body) where value = 'null'::jsonb)`.execute(trx);
    }
    return rows.length - Number(r.numAffectedRows ?? 0n);
  }

  async close(): Promise<void> {}
}
