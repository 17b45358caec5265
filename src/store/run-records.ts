/** Run history: one row per run, started, updated at each checkpoint, finished. */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Position } from '../interfaces.ts';
import { PullerError } from '../errors.ts';
import { scrubSecrets } from '../secrets/secret-registry.ts';
import type { RunKind, RunStatus, StoreSchema } from './schema.ts';
import type { StreamRef } from './delivery-state.ts';

type Db = Kysely<StoreSchema> | Transaction<StoreSchema>;

/** Counters a run reports. */
export interface RunCounts {
  rowsRead: number;
  rowsSent: number;
  rowsUnchanged: number;
  rowsRejected: number;
  rowsDeleted: number;
  rowsNullCursor: number;
  pages: number;
}

/** What one confirmed page adds to a run's counts. */
export interface PageCounts {
  read: number;
  sent: number;
  deleted: number;
  unchanged: number;
  rejected: number;
}

/** Run counts with one more page's outcome added. */
export function addPage(c: RunCounts, o: PageCounts): RunCounts {
  return {
    ...c,
    rowsRead: c.rowsRead + o.read, rowsSent: c.rowsSent + o.sent, rowsDeleted: c.rowsDeleted + o.deleted,
    rowsUnchanged: c.rowsUnchanged + o.unchanged, rowsRejected: c.rowsRejected + o.rejected, pages: c.pages + 1,
  };
}

/** The columns that mark a run whose process died. */
export function abandoned() {
  return { status: 'failed' as const, ended_at: new Date(), error_code: 'RP_RUN_ABANDONED', error: 'the process running it stopped' };
}

export const ZERO_COUNTS: RunCounts = {
  rowsRead: 0, rowsSent: 0, rowsUnchanged: 0, rowsRejected: 0, rowsDeleted: 0, rowsNullCursor: 0, pages: 0,
};

// A run that has not checkpointed or beaten for this long belongs to a dead process.
export const ABANDONED_AFTER_SECONDS = 300;
const UNIQUE_VIOLATION = '23505';

/** Starts a run; refuses when another live run of the stream is in progress. */
export async function startRun(db: Db, ref: StreamRef, kind: RunKind, watermark: Position | undefined): Promise<string> {
  await abandonStaleRuns(db, ref);
  try {
    const row = await db.insertInto('runs')
      .values({ connector_id: ref.connectorId, stream: ref.stream, kind, status: 'running', watermark_before: JSON.stringify(watermark ?? null) })
      .returning('id').executeTakeFirstOrThrow();
    return row.id;
  } catch (error) {
    if ((error as { code?: string }).code === UNIQUE_VIOLATION) {
      throw new PullerError('RP_STREAM_BUSY',
        `stream ${ref.connectorId}/${ref.stream} is already running (a run whose process died counts as abandoned ${ABANDONED_AFTER_SECONDS} s after its last checkpoint)`);
    }
    throw error;
  }
}

/**
 * Marks a stream's running runs that stopped beating for `olderThanSeconds` as failed;
 * `pullsOnly` leaves backfill chunks alone (they may run beside a pull).
 */
export async function abandonStaleRuns(db: Db, ref: StreamRef, olderThanSeconds = ABANDONED_AFTER_SECONDS, pullsOnly = false): Promise<void> {
  let query = db.updateTable('runs')
    .set(abandoned())
    .where('connector_id', '=', ref.connectorId).where('stream', '=', ref.stream).where('status', '=', 'running')
    .where('heartbeat_at', '<', sql<Date>`now() - make_interval(secs => ${olderThanSeconds})`);
  if (pullsOnly) query = query.where('kind', '<>', 'backfill');
  await query.execute();
}

/** Records progress at a checkpoint (inside the checkpoint's transaction). */
export async function recordProgress(db: Db, runId: string, counts: RunCounts, watermark: Position | undefined): Promise<void> {
  await db.updateTable('runs').set({ ...countColumns(counts), watermark_after: JSON.stringify(watermark ?? null), heartbeat_at: new Date() })
    .where('id', '=', runId).execute();
}

/** Ends a run with its final counts and, for a failure, the error (secrets scrubbed). */
export async function finishRun(db: Db, runId: string, status: Exclude<RunStatus, 'running'>, counts: RunCounts, error?: unknown): Promise<void> {
  await db.updateTable('runs').set({
    status, ended_at: new Date(), ...countColumns(counts),
    error_code: error instanceof PullerError ? error.code : error ? 'RP_UNEXPECTED' : null,
    error: error ? scrubSecrets(describeError(error)) : null,
  }).where('id', '=', runId).execute();
}

/** An error and its causes on one line. */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e && parts.length < 4; e = (e as { cause?: unknown }).cause) {
    parts.push(e instanceof Error ? e.message : String(e));
  }
  return parts.join(': ');
}

function countColumns(c: RunCounts) {
  return {
    rows_read: c.rowsRead, rows_sent: c.rowsSent, rows_unchanged: c.rowsUnchanged, rows_rejected: c.rowsRejected,
    rows_deleted: c.rowsDeleted, rows_null_cursor: c.rowsNullCursor, pages: c.pages,
  };
}
