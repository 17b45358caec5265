/**
 * What the puller remembers about delivery, per stream: the watermark, what was last
 * delivered per external id (content hash and source version), and the quarantine.
 * Writers take a transaction so they commit together with the page they cover.
 */
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { CursorKind, CursorValue, Position } from '../interfaces.ts';
import { comparePosition } from '../engine/watermark.ts';
import { pageOf, REJECTS_LIST, type Page, type PageRequest } from './keyset-page.ts';
import type { RejectedRecordsTable, StoreSchema } from './schema.ts';
import { inLockOrder } from './lock-order.ts';
import { flagColumn, textColumn } from './text-column.ts';
import { guardedId, unguardId } from './external-id-text.ts';
import { insertNewElseUpsert } from './new-rows.ts';

type Db = Kysely<StoreSchema> | Transaction<StoreSchema>;

export interface StreamRef {
  connectorId: string;
  stream: string;
}

/** The stream's watermark, or undefined before its first confirmed page. */
export async function loadWatermark(db: Db, ref: StreamRef): Promise<Position | undefined> {
  const row = await db.selectFrom('stream_state').select(['watermark_cursor', 'watermark_key'])
    .where('connector_id', '=', ref.connectorId).where('stream', '=', ref.stream).executeTakeFirst();
  return row ? { cursor: row.watermark_cursor, key: row.watermark_key } : undefined;
}

/** Stores a watermark (or removes it, to start from the beginning). */
export async function saveWatermark(db: Db, ref: StreamRef, position: Position | undefined): Promise<void> {
  if (!position) {
    await db.deleteFrom('stream_state').where('connector_id', '=', ref.connectorId).where('stream', '=', ref.stream).execute();
    return;
  }
  const values = { watermark_cursor: position.cursor, watermark_key: JSON.stringify(position.key), updated_at: new Date() };
  await db.insertInto('stream_state').values({ connector_id: ref.connectorId, stream: ref.stream, ...values })
    .onConflict((oc) => oc.columns(['connector_id', 'stream']).doUpdateSet(values)).execute();
}

/**
 * Moves the watermark forward to the start of `cursor` (before any key at it), unless it is
 * there or beyond already. Read and written under the row's lock.
 */
export async function seedWatermark(trx: Transaction<StoreSchema>, ref: StreamRef, kind: CursorKind, cursor: CursorValue): Promise<void> {
  const row = await trx.selectFrom('stream_state').select(['watermark_cursor', 'watermark_key'])
    .where('connector_id', '=', ref.connectorId).where('stream', '=', ref.stream).forUpdate().executeTakeFirst();
  const seed: Position = { cursor, key: [] };
  if (row && comparePosition(kind, { cursor: row.watermark_cursor, key: row.watermark_key }, seed) >= 0) return;
  await saveWatermark(trx, ref, seed);
}

/** What was last delivered for one external id. */
export interface DeliveredEntry {
  externalId: string;
  contentHash: string;
  version: string;
  deleted: boolean;
}

/** Last delivered entries for these external ids. */
export async function loadDelivered(db: Db, ref: StreamRef, externalIds: string[]): Promise<Map<string, DeliveredEntry>> {
  const out = new Map<string, DeliveredEntry>();
  if (externalIds.length === 0) return out;
  // One array parameter, not one per id: a page's lookup is one short statement to parse and plan.
  // The lateral LIMIT makes it one primary-key probe per id whatever the statistics say: with
  // `= any(...)`, a table not yet analyzed (a first backfill) was scanned whole for every page.
  const { rows } = await sql<{ guarded_id: string; content_hash: string; version: string; deleted: boolean }>`
    select ${guardedId('x.id')} as guarded_id, d.content_hash, d.version, d.deleted
    from unnest(${textColumn(externalIds)}) as x(id)
    cross join lateral (
      select content_hash, version, deleted from delivered
      where connector_id = ${ref.connectorId} and stream = ${ref.stream} and external_id = x.id limit 1) as d`.execute(db);
  for (const r of rows) {
    const externalId = unguardId(r.guarded_id);
    out.set(externalId, { externalId, contentHash: r.content_hash, version: r.version, deleted: r.deleted });
  }
  return out;
}

/**
 * Records what a confirmed page delivered. `undelivered`: none of these records had an entry
 * when the page was decided, so they are tried as new rows (store/new-rows.ts).
 */
export async function recordDelivered(trx: Transaction<StoreSchema>, ref: StreamRef, entries: DeliveredEntry[], undelivered = false): Promise<void> {
  if (entries.length === 0) return;
  await insertNewElseUpsert(trx, (upsert) => deliveredStatement(ref, entries, upsert), undelivered);
}

/** Records the entries of records that have none: a unique violation (23505) if one has. */
export async function recordNewDelivered(trx: Transaction<StoreSchema>, ref: StreamRef, entries: DeliveredEntry[]): Promise<void> {
  if (entries.length > 0) await deliveredStatement(ref, entries, false).execute(trx);
}

/** The INSERT of delivery records, in lock order; with `upsert`, an entry replaces an older version's. */
function deliveredStatement(ref: StreamRef, unordered: DeliveredEntry[], upsert: boolean) {
  const entries = inLockOrder(unordered, (e) => e.externalId);
  const columns = sql`unnest(${textColumn(entries.map((e) => e.externalId))}, ${textColumn(entries.map((e) => e.contentHash))},
    ${textColumn(entries.map((e) => e.version))}, ${flagColumn(entries.map((e) => e.deleted))}) as x(id, hash, version, deleted)`;
  return sql`
    insert into delivered (connector_id, stream, external_id, content_hash, version, deleted, updated_at)
    select ${ref.connectorId}, ${ref.stream}, x.id, x.hash, x.version, x.deleted, now() from ${columns}
    ${upsert ? sql`on conflict (connector_id, stream, external_id) do update set
      content_hash = excluded.content_hash, version = excluded.version, deleted = excluded.deleted, updated_at = now()
    where delivered.version <= excluded.version collate "C"` : sql``}`;
}

/**
 * Forgets what was delivered of these records' content, not their versions: a read of the
 * same version is then sent (verify's repair of records it found stale). Rows are locked
 * in lock order (a backfill chunk may be writing the same records beside it).
 */
export async function forgetDeliveredContent(db: Db, ref: StreamRef, externalIds: string[], marker: string): Promise<void> {
  if (externalIds.length === 0) return;
  await sql`
    with locked as materialized (
      select d.external_id from unnest(${inLockOrder(externalIds, (id) => id)}::text[]) with ordinality as x(id, n)
      join delivered d on d.connector_id = ${ref.connectorId} and d.stream = ${ref.stream} and d.external_id = x.id
      order by x.n for update of d)
    update delivered set content_hash = ${marker} from locked
    where delivered.connector_id = ${ref.connectorId} and delivered.stream = ${ref.stream} and delivered.external_id = locked.external_id`.execute(db);
}

/** A record that failed mapping or validation. */
export interface Rejection {
  runId: string;
  tenant: string;
  externalId: string | null;
  sourceKey: string[];
  sourceCursor: string | null;
  fields: string[];
  reason: string;
}

/** Puts records in quarantine; a row already there gets its entry updated. */
export async function quarantine(db: Db, ref: StreamRef, rejections: Rejection[]): Promise<void> {
  if (rejections.length === 0) return;
  // In lock order (a pull and a backfill may quarantine the same rows), as text jsonb can hold:
  // the entry of a row refused for a NUL or a lone surrogate must not fail for the same reason.
  const rows = JSON.stringify(inLockOrder(rejections, (r) => JSON.stringify(r.sourceKey)).map((r) => ({
    run_id: r.runId, tenant_id: r.tenant, external_id: storableText(r.externalId), source_key: r.sourceKey.map(storableText),
    source_cursor: storableText(r.sourceCursor), fields: r.fields.map(storableText), reason: storableText(r.reason),
  })));
  await sql`
    insert into rejected_records (run_id, tenant_id, connector_id, stream, external_id, source_key, source_cursor, fields, reason)
    select x.run_id, x.tenant_id, ${ref.connectorId}, ${ref.stream}, x.external_id, x.source_key, x.source_cursor, x.fields, x.reason
    from jsonb_to_recordset(${rows}::jsonb)
      as x(run_id bigint, tenant_id text, external_id text, source_key jsonb, source_cursor text, fields jsonb, reason text)
    on conflict (connector_id, stream, source_key) where resolved_at is null do update set
      run_id = excluded.run_id, external_id = excluded.external_id, source_cursor = excluded.source_cursor,
      fields = excluded.fields, reason = excluded.reason, created_at = now()`.execute(db);
}

/** Text as PostgreSQL text and jsonb can hold it: U+0000 and lone UTF-16 surrogates as U+FFFD. */
export function storableText<T extends string | null>(text: T): T {
  return (text === null ? text : text.replace(/\u0000|\p{Cs}/gu, '\uFFFD')) as T;
}

/** A read of a row that settles its open quarantine entry, unless the entry is of a newer read (`cursor` undefined: whatever it is). */
export interface SettlingRead {
  key: string[];
  cursor?: string;
}

/**
 * Marks quarantined rows resolved once a read of them at the same or a newer cursor was
 * delivered, or with a note why not (appended to the reason). An older read (a backfill page
 * that landed late) leaves the entry of the newer, undelivered value open.
 */
export async function resolveQuarantined(trx: Db, ref: StreamRef, kind: CursorKind, reads: SettlingRead[], note?: string): Promise<void> {
  if (reads.length === 0) return;
  const reason = note === undefined ? sql`reason` : sql`reason || ${` [resolved: ${note}]`}`;
  const notNewer = kind === 'integer' ? sql`r.source_cursor::numeric <= x.cursor::numeric` : sql`r.source_cursor <= x.cursor collate "C"`;
  await sql`
    update rejected_records r set resolved_at = now(), reason = ${reason}
    from jsonb_to_recordset(${JSON.stringify(reads.map((r) => ({ key: r.key, cursor: r.cursor ?? null })))}::jsonb) as x(key jsonb, cursor text)
    where r.connector_id = ${ref.connectorId} and r.stream = ${ref.stream} and r.resolved_at is null and r.source_key = x.key
      and (x.cursor is null or r.source_cursor is null or ${notNewer})`.execute(trx);
}

/** How many quarantined rows of the stream are still open. */
export async function countOpenRejections(db: Db, ref: StreamRef): Promise<number> {
  const r = await db.selectFrom('rejected_records').select((eb) => eb.fn.countAll<string>().as('n'))
    .where('connector_id', '=', ref.connectorId).where('stream', '=', ref.stream).where('resolved_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** A quarantine entry as `rejects` shows it. */
export interface QuarantineEntry extends Rejection {
  id: string;
  stream: string;
  createdAt: Date;
  resolvedAt: Date | null;
}

/** Quarantine entries of a connector (one stream, or all), open ones only unless `all`, oldest first. */
export async function listRejections(db: Db, connectorId: string, options: { stream?: string; all?: boolean } = {}): Promise<QuarantineEntry[]> {
  const rows = await rejectionsQuery(db, connectorId, options).execute();
  return rows.map(quarantineEntry);
}

/** A page of `listRejections`, in its order (stream, then id); keyset on (stream, id). */
export async function listRejectionPage(db: Db, connectorId: string, options: { stream?: string; all?: boolean }, page: PageRequest): Promise<Page<QuarantineEntry>> {
  const after = page.after;
  const rows = await rejectionsQuery(db, connectorId, options)
    .$if(after !== undefined, (q) => q.where((eb) => eb(eb.refTuple('stream', 'id'), '>', eb.tuple(after![0]!, after![1]!))))
    .limit(page.limit + 1).execute();
  const { items, next } = pageOf(REJECTS_LIST, rows, page.limit, (r) => [r.stream, String(r.id)]);
  return { items: items.map(quarantineEntry), next };
}

function rejectionsQuery(db: Db, connectorId: string, options: { stream?: string; all?: boolean }) {
  return db.selectFrom('rejected_records').selectAll().where('connector_id', '=', connectorId)
    .$if(options.stream !== undefined, (q) => q.where('stream', '=', options.stream!))
    .$if(!options.all, (q) => q.where('resolved_at', 'is', null))
    .orderBy('stream').orderBy('id');
}

function quarantineEntry(r: Selectable<RejectedRecordsTable>): QuarantineEntry {
  return {
    id: r.id, stream: r.stream, runId: r.run_id ?? '', tenant: r.tenant_id, externalId: r.external_id, sourceKey: r.source_key,
    sourceCursor: r.source_cursor, fields: r.fields, reason: r.reason, createdAt: r.created_at, resolvedAt: r.resolved_at,
  };
}

