/**
 * The built-in resource store: the sink used when no Reach API is configured. Records land
 * in the state store's `resources` table with Reach's merge semantics, inside the
 * transaction that commits the page's checkpoint: a page is delivered exactly once.
 *
 * A version guard keeps the newest source version: an upsert or delete whose version is
 * older than the one its stream last wrote (a backfill racing a scheduled pull) changes
 * nothing. Versions are kept per stream: two streams into one schema each land their fields.
 */
import { sql, type Transaction } from 'kysely';
import type { StoreSchema } from '../../store/schema.ts';
import { inLockOrder } from '../../store/lock-order.ts';
import { flagColumn, textColumn } from '../../store/text-column.ts';
import { insertNewElseUpsert } from '../../store/new-rows.ts';
import type { SinkPage, TransactionalSink } from '../sink.ts';

export class StoreSink implements TransactionalSink {
  readonly kind = 'store' as const;
  readonly target = 'store';
  /** Writers (`connector/stream`) whose new-looking records turned out to exist in the store already. */
  readonly #upsertOnly = new Set<string>();

  async write(trx: Transaction<StoreSchema>, page: SinkPage): Promise<number> {
    const count = page.upserts.length + page.deletes.length;
    if (count === 0) return 0;
    const withNulls: string[] = [];
    const rows = inLockOrder([
      ...page.upserts.map((u) => {
        // A top-level null field shows in the text as `":null`; a nested null or such a string
        // only costs the check below, which looks at the stored top-level fields.
        if (u.json.includes('":null')) withNulls.push(u.externalId);
        return { id: u.externalId, body: u.json, version: u.version, deleted: false };
      }),
      ...page.deletes.map((d) => ({ id: d.externalId, body: '{}', version: d.version, deleted: true })),
    ], (row) => row.id);
    // One statement for the page, in lock order; columns, not one JSON document:
    // PostgreSQL reads each body once, as the JSON the engine already built. Merge like
    // Reach's upsert (a PATCH): fields left out are kept, a field sent as null is deleted
    // (below). A delete leaves a tombstone with an empty body that keeps its version, so an
    // older upsert cannot resurrect it, and a newer one merged into it starts afresh. The
    // merge reads the stored row under its lock (ON CONFLICT), so concurrent writers cannot lose fields.
    // A page of records the stream never delivered goes in as new rows first (store/new-rows.ts).
    const columns = sql`unnest(${textColumn(rows.map((row) => row.id))}, ${textColumn(rows.map((row) => row.body))},
        ${textColumn(rows.map((row) => row.version))}, ${flagColumn(rows.map((row) => row.deleted))}) as x(id, body, version, deleted)`;
    const statement = (upsert: boolean) => sql`
      insert into resources (tenant_id, schema_name, external_id, body, version, stream_versions, deleted, updated_at)
      select ${page.tenant}, ${page.schema}, x.id, x.body::jsonb, x.version, jsonb_build_object(${page.writer}::text, x.version), x.deleted, now()
      from ${columns}
      ${upsert ? sql`on conflict (tenant_id, schema_name, external_id) do update set
        body = case when excluded.deleted then '{}'::jsonb else resources.body || excluded.body end,
        version = excluded.version, stream_versions = resources.stream_versions || excluded.stream_versions,
        deleted = excluded.deleted, updated_at = now()
      where ${writtenVersion(page.writer)} <= excluded.version collate "C"` : sql``}`;
    const tryInsert = page.undelivered === true && !this.#upsertOnly.has(page.writer);
    const { result, inserted } = await insertNewElseUpsert(trx, statement, tryInsert);
    // The stream's records exist beside another writer's: its later pages go straight to the upsert.
    if (tryInsert && !inserted) this.#upsertOnly.add(page.writer);
    if (withNulls.length > 0) {
      // Null fields mean "absent": dropped once merged (a new record was inserted as sent),
      // from these records only, not from every merged body.
      await sql`
        update resources set body = jsonb_strip_nulls_top(body)
        where tenant_id = ${page.tenant} and schema_name = ${page.schema} and external_id = any(${withNulls}::text[])
          and exists (select from jsonb_each(body) where value = 'null'::jsonb)`.execute(trx);
    }
    return count - Number(result.numAffectedRows ?? 0n);
  }

  async close(): Promise<void> {}
}

/**
 * The version the guard compares with: what this stream last wrote to the record (another
 * stream's cursor says nothing about this one's); for a record written before versions were
 * kept per stream, the last write's.
 */
function writtenVersion(writer: string) {
  return sql`(case when resources.stream_versions = '{}'::jsonb then resources.version
    else coalesce(resources.stream_versions ->> ${writer}::text, '') end)`;
}
