/**
 * Backfill state in the store (`backfills`, `backfill_chunks`): separate from the stream's
 * watermark, which a backfill only moves once, forward, when it succeeded from the stream's
 * first row (its seed). Chunk checkpoints are written inside the page's delivery
 * transaction, so a checkpoint never claims rows the sink did not take.
 *
 * The process running a backfill holds it (store/holds.ts): another process can take it
 * over the moment that one dies, and never while it lives.
 */
import { hostname } from 'node:os';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { CursorKind, Position } from '../interfaces.ts';
import { PullerError } from '../errors.ts';
import { scrubSecrets } from '../secrets/secret-registry.ts';
import { seedWatermark } from '../store/delivery-state.ts';
import { abandoned, describeError, type RunCounts } from '../store/run-records.ts';
import type { BackfillChunkStatus, BackfillStatus, StoreSchema } from '../store/schema.ts';
import type { ChunkBounds } from './chunk-plan.ts';
import { compareCursor } from '../engine/watermark.ts';

type Db = Kysely<StoreSchema> | Transaction<StoreSchema>;

/** The hold of the process that runs a backfill. */
export function backfillHoldKey(id: string): string {
  return `backfill ${id}`;
}

export interface ChunkRecord extends ChunkBounds {
  chunk: number;
  status: BackfillChunkStatus;
  checkpoint?: Position;
  rowsRead: number;
  rowsSent: number;
  runId?: string;
}

export interface BackfillRecord {
  id: string;
  connectorId: string;
  stream: string;
  status: BackfillStatus;
  from?: string;
  to?: string;
  checkpointRows: number;
  maxRowsPerSecond?: number;
  rowsEstimated: number;
  /** Where the stream's watermark may go once this backfill succeeds from the first row. */
  seedCursor?: string;
  /** The cursor its chunk bounds were planned from (engine/stream-identity.ts). */
  cursorSignature?: string;
  owner?: string;
  heartbeatAt?: Date;
  attemptStartedAt?: Date;
  attemptRowsBefore: number;
  error?: string;
  createdAt: Date;
  finishedAt?: Date;
  chunks: ChunkRecord[];
}

export interface NewBackfill {
  connectorId: string;
  stream: string;
  from?: string;
  to?: string;
  checkpointRows: number;
  maxRowsPerSecond?: number;
  rowsEstimated: number;
  seedCursor?: string;
  cursorSignature: string;
  chunks: ChunkBounds[];
}

/** This process as a backfill owner: `host:pid`. */
export function ownerId(): string {
  return `${hostname()}:${process.pid}`;
}

/** Stores a new backfill and its chunks, owned by this process; returns its id. */
export async function insertBackfill(db: Kysely<StoreSchema>, b: NewBackfill): Promise<string> {
  return db.transaction().execute(async (trx) => {
    const { id } = await trx.insertInto('backfills').values({
      connector_id: b.connectorId, stream: b.stream, status: 'running', range_from: b.from ?? null, range_to: b.to ?? null,
      checkpoint_rows: b.checkpointRows, max_rows_per_second: b.maxRowsPerSecond ?? null, rows_estimated: b.rowsEstimated,
      seed_cursor: b.seedCursor ?? null, cursor_signature: b.cursorSignature, owner: ownerId(), heartbeat_at: new Date(), attempt_started_at: new Date(),
    }).returning('id').executeTakeFirstOrThrow();
    await trx.insertInto('backfill_chunks').values(b.chunks.map((c, chunk) => ({
      backfill_id: id, chunk, lower_cursor: c.lower ?? null, upper_cursor: c.upper ?? null, status: 'pending' as const,
    }))).execute();
    return id;
  });
}

/** A backfill with its chunks, or RP_NOT_FOUND. */
export async function loadBackfill(db: Db, id: string): Promise<BackfillRecord> {
  if (!/^\d+$/.test(id)) throw new PullerError('RP_NOT_FOUND', `"${id}" is not a backfill id (a number, see \`reach-puller backfill list\`)`);
  const [found] = await loadBackfills(db, { id });
  if (!found) throw new PullerError('RP_NOT_FOUND', `there is no backfill ${id}; \`reach-puller backfill list\` shows them`);
  return found;
}

/** Which backfills to load: one by id, a stream's, those in a status; newest first, `limit` of them below the id `before`. */
export interface BackfillFilter {
  id?: string;
  stream?: { connectorId: string; stream: string };
  status?: BackfillStatus;
  before?: string;
  limit?: number;
}

/**
 * The backfills a filter selects, newest first, with their chunks: read for exactly those ids
 * bound as one array (`= any($1)`: no `in (...)` list growing past the protocol's 65,535
 * parameters), grouped by backfill in a Map.
 */
export async function loadBackfills(db: Db, filter: BackfillFilter = {}): Promise<BackfillRecord[]> {
  let query = db.selectFrom('backfills').selectAll().orderBy('id', 'desc');
  if (filter.id !== undefined) query = query.where('id', '=', filter.id);
  if (filter.stream) query = query.where('connector_id', '=', filter.stream.connectorId).where('stream', '=', filter.stream.stream);
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.before !== undefined) query = query.where('id', '<', filter.before);
  if (filter.limit !== undefined) query = query.limit(filter.limit);
  const rows = await query.execute();
  if (rows.length === 0) return [];
  const chunks = new Map<string, ChunkRecord[]>();
  for (const c of await db.selectFrom('backfill_chunks').selectAll().where(sql<boolean>`backfill_id = any(${rows.map((r) => r.id)}::bigint[])`).orderBy('chunk').execute()) {
    const list = chunks.get(c.backfill_id) ?? [];
    if (list.length === 0) chunks.set(c.backfill_id, list);
    list.push({
      chunk: c.chunk, lower: c.lower_cursor ?? undefined, upper: c.upper_cursor ?? undefined,
      status: c.status,
      checkpoint: c.checkpoint_cursor !== null ? { cursor: c.checkpoint_cursor, key: c.checkpoint_key ?? [] } : undefined,
      rowsRead: Number(c.rows_read), rowsSent: Number(c.rows_sent), runId: c.run_id ?? undefined,
    });
  }
  return rows.map((r) => ({
    id: r.id, connectorId: r.connector_id, stream: r.stream, status: r.status,
    from: r.range_from ?? undefined, to: r.range_to ?? undefined, checkpointRows: r.checkpoint_rows,
    maxRowsPerSecond: r.max_rows_per_second ?? undefined, rowsEstimated: Number(r.rows_estimated), seedCursor: r.seed_cursor ?? undefined,
    cursorSignature: r.cursor_signature ?? undefined,
    owner: r.owner ?? undefined, heartbeatAt: r.heartbeat_at ?? undefined, attemptStartedAt: r.attempt_started_at ?? undefined,
    attemptRowsBefore: Number(r.attempt_rows_before), error: r.error ?? undefined, createdAt: r.created_at,
    finishedAt: r.finished_at ?? undefined,
    chunks: chunks.get(r.id) ?? [],
  }));
}

/**
 * Takes a backfill over for this process, which holds it: false when its state changed since
 * `b` was read (a cancel, or it succeeded). Runs of chunks left `running` by the process that
 * held it before (it died: its hold ended) are closed as abandoned.
 */
export async function claimBackfill(db: Kysely<StoreSchema>, b: BackfillRecord): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const rowsDone = b.chunks.reduce((n, c) => n + c.rowsRead, 0);
    const r = await trx.updateTable('backfills')
      .set({ status: 'running', owner: ownerId(), heartbeat_at: new Date(), attempt_started_at: new Date(),
        attempt_rows_before: rowsDone, error: null, error_code: null, finished_at: null })
      .where('id', '=', b.id).where('status', '=', b.status)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) return false;
    const orphans = b.chunks.filter((c) => c.status === 'running' && c.runId).map((c) => c.runId!);
    if (orphans.length > 0) {
      await trx.updateTable('runs')
        .set(abandoned())
        .where('id', 'in', orphans).where('status', '=', 'running').execute();
    }
    await trx.updateTable('backfill_chunks').set({ status: 'pending', updated_at: new Date() })
      .where('backfill_id', '=', b.id).where('status', 'in', ['running', 'failed']).execute();
    return true;
  });
}

/** Beats for the owner; returns the status so the owner sees a cancel requested elsewhere. */
export async function beat(db: Db, id: string): Promise<BackfillStatus | undefined> {
  const row = await db.updateTable('backfills').set({ heartbeat_at: new Date() })
    .where('id', '=', id).where('owner', '=', ownerId()).returning('status').executeTakeFirst();
  return row?.status;
}

/**
 * Marks a chunk as started by a run (`running`), or ended by that run. An ended run changes
 * the chunk only while it is still the chunk's run: a run taken over never overwrites the
 * state its successor set.
 */
export async function setChunkStatus(db: Db, id: string, chunk: number, status: BackfillChunkStatus, runId: string, error?: unknown): Promise<void> {
  let query = db.updateTable('backfill_chunks').set({
    status, updated_at: new Date(), run_id: runId, error: error ? scrubSecrets(describeError(error)) : null,
  }).where('backfill_id', '=', id).where('chunk', '=', chunk);
  if (status !== 'running') query = query.where('run_id', '=', runId);
  await query.execute();
}

/** A chunk's checkpoint: its last delivered position and the page's counts, added. */
export async function saveChunkCheckpoint(trx: Db, id: string, chunk: number, position: Position, page: Omit<RunCounts, 'rowsNullCursor' | 'pages'>): Promise<void> {
  const plus = (column: string, n: number) => sql<string>`${sql.ref(column)} + ${n}`;
  await trx.updateTable('backfill_chunks').set({
    checkpoint_cursor: position.cursor, checkpoint_key: JSON.stringify(position.key), updated_at: new Date(),
    rows_read: plus('rows_read', page.rowsRead), rows_sent: plus('rows_sent', page.rowsSent),
    rows_unchanged: plus('rows_unchanged', page.rowsUnchanged), rows_rejected: plus('rows_rejected', page.rowsRejected),
    rows_deleted: plus('rows_deleted', page.rowsDeleted), pages: sql<number>`pages + 1`,
  }).where('backfill_id', '=', id).where('chunk', '=', chunk).execute();
}

/**
 * Ends this process's run of a backfill. A cancel requested meanwhile stays a cancel. A
 * backfill that succeeded from the stream's first row seeds the watermark (never moving it
 * back), in the same transaction: every row whose cursor is at or below the seed and that
 * did not change since the backfill began was delivered by it, and rows changed since have
 * newer cursors, so the next pull reads only those.
 */
export async function finishBackfill(
  db: Kysely<StoreSchema>, b: BackfillRecord, kind: CursorKind, status: Exclude<BackfillStatus, 'running'>, error?: unknown,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const r = await trx.updateTable('backfills').set({
      status, finished_at: new Date(), heartbeat_at: new Date(),
      error_code: error instanceof PullerError ? error.code : error ? 'RP_UNEXPECTED' : null,
      error: error ? scrubSecrets(describeError(error)) : null,
    }).where('id', '=', b.id).where('owner', '=', ownerId()).where('status', '=', 'running').executeTakeFirst();
    if (status !== 'succeeded' || Number(r.numUpdatedRows) !== 1 || b.from !== undefined || b.seedCursor === undefined) return;
    if (b.to !== undefined && compareCursor(kind, b.to, b.seedCursor) < 0) return;
    await seedWatermark(trx, { connectorId: b.connectorId, stream: b.stream }, kind, b.seedCursor);
  });
}

/** Asks a backfill to stop: its owner sees it within a second and stops after the current page. */
export async function requestCancel(db: Db, id: string): Promise<boolean> {
  const r = await db.updateTable('backfills').set({ status: 'cancelled', finished_at: new Date() })
    .where('id', '=', id).where('status', 'in', ['running', 'failed']).executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}
