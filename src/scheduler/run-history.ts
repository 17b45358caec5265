/** Run history of a connector, newest first, as `runs` and the ops API show it. */
import type { Kysely } from 'kysely';
import type { StoreSchema } from '../store/schema.ts';

export interface RunEntry {
  id: string;
  stream: string;
  kind: string;
  status: string;
  startedAt: string;
  endedAt: string | null;
  read: number;
  sent: number;
  unchanged: number;
  rejected: number;
  deleted: number;
  /** Rows the run counted and could not read (pulls count them; other kinds leave 0): NULL cursor, NULL key column, cursor ahead of the partner clock. */
  nullCursor: number;
  nullKey: number;
  futureCursor: number;
  pages: number;
  watermarkAfter: unknown;
  error: string | null;
}

/** The latest runs of a connector (one stream, or all). */
export async function listRuns(db: Kysely<StoreSchema>, connectorId: string, options: { stream?: string; limit?: number } = {}): Promise<RunEntry[]> {
  const rows = await db.selectFrom('runs').selectAll().where('connector_id', '=', connectorId)
    .$if(options.stream !== undefined, (q) => q.where('stream', '=', options.stream!))
    .orderBy('id', 'desc').limit(options.limit ?? 20).execute();
  return rows.map((r) => ({
    id: r.id, stream: r.stream, kind: r.kind, status: r.status,
    startedAt: new Date(r.started_at).toISOString(), endedAt: r.ended_at ? new Date(r.ended_at).toISOString() : null,
    read: Number(r.rows_read), sent: Number(r.rows_sent), unchanged: Number(r.rows_unchanged),
    rejected: Number(r.rows_rejected), deleted: Number(r.rows_deleted),
    nullCursor: Number(r.rows_null_cursor), nullKey: Number(r.rows_null_key), futureCursor: Number(r.rows_future_cursor), pages: r.pages,
    watermarkAfter: r.watermark_after, error: r.error ? `${r.error_code ?? ''} ${r.error}`.trim() : null,
  }));
}
