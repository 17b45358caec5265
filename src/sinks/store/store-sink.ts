/**
 * The built-in resource store: the sink used when no Reach API is configured. Records land
 * in the state store's `resources` table with Reach's merge semantics, inside the
 * transaction that commits the page's checkpoint: a page is delivered exactly once.
 *
 * A version guard keeps the newest source version: an upsert or delete whose version is
 * older than the stored one (a backfill racing a scheduled pull) changes nothing.
 */
import { sql, type Transaction } from 'kysely';
import type { StoreSchema } from '../../store/schema.ts';
import { textColumn } from '../../store/text-column.ts';
import type { SinkPage, TransactionalSink } from '../sink.ts';

export class StoreSink implements TransactionalSink {
  readonly kind = 'store' as const;
  readonly target = 'store';

  async write(trx: Transaction<StoreSchema>, page: SinkPage): Promise<number> {
    let written = 0;
    if (page.upserts.length > 0) {
      // Columns, not one JSON document: PostgreSQL reads each body once, as the JSON the engine already built.
      const ids = page.upserts.map((u) => u.externalId);
      const bodies = textColumn(page.upserts.map((u) => u.json));
      const versions = textColumn(page.upserts.map((u) => u.version));
      // Merge like Reach's upsert (a PATCH): fields left out are kept, a field sent as
      // null is deleted; a tombstone is replaced, not merged into. The merge reads the
      // stored row under its lock (ON CONFLICT), so concurrent writers cannot lose fields.
      const r = await sql`
        insert into resources (tenant_id, schema_name, external_id, body, version, deleted, updated_at)
        select ${page.tenant}, ${page.schema}, x.id, x.body::jsonb, x.version, false, now()
        from unnest(${ids}::text[], ${bodies}, ${versions}) as x(id, body, version)
        on conflict (tenant_id, schema_name, external_id) do update set
          body = jsonb_strip_nulls_top(case when resources.deleted then excluded.body else resources.body || excluded.body end),
          version = excluded.version, deleted = false, updated_at = now()
        where resources.version <= excluded.version collate "C"`.execute(trx);
      written += Number(r.numAffectedRows ?? 0n);
      // A top-level null field shows in the text as `":null`; a nested null or such a string
      // only costs the check below, which looks at the stored top-level fields.
      const withNulls = page.upserts.filter((u) => u.json.includes('":null')).map((u) => u.externalId);
      if (withNulls.length > 0) {
        // A new record was inserted as sent; its null fields mean "absent".
        await sql`
          update resources set body = jsonb_strip_nulls_top(body)
          where tenant_id = ${page.tenant} and schema_name = ${page.schema} and external_id = any(${withNulls}::text[])
            and exists (select from jsonb_each(body) where value = 'null'::jsonb)`.execute(trx);
      }
    }
    if (page.deletes.length > 0) {
      const rows = JSON.stringify(page.deletes.map((d) => ({ id: d.externalId, version: d.version })));
      // A tombstone, not a row deletion: it keeps the version so an older upsert cannot resurrect it.
      const r = await sql`
        insert into resources (tenant_id, schema_name, external_id, body, version, deleted, updated_at)
        select ${page.tenant}, ${page.schema}, x.id, '{}'::jsonb, x.version, true, now()
        from jsonb_to_recordset(${rows}::jsonb) as x(id text, version text)
        on conflict (tenant_id, schema_name, external_id) do update set
          body = '{}'::jsonb, version = excluded.version, deleted = true, updated_at = now()
        where resources.version <= excluded.version collate "C"`.execute(trx);
      written += Number(r.numAffectedRows ?? 0n);
    }
    return page.upserts.length + page.deletes.length - written;
  }

  async close(): Promise<void> {}
}
