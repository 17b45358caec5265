/** Run history of a connector, newest first, as `runs` and the ops API show it. */
import type { Kysely, Selectable } from 'kysely';
import { PAGE_LIMIT_DEFAULT, pageOf, RUNS_LIST, type Page, type PageRequest } from '../store/keyset-page.ts';
import type { RunsTable, StoreSchema } from '../store/schema.ts';

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
  /** What a verify run found (counts and example ids per kind); absent for other kinds. */
  detail?: unknown;
}

/** A page of a connector's runs (one stream, or all), newest first; keyset on the run id. */
export async function listRuns(db: Kysely<StoreSchema>, connectorId: string, options: { stream?: string } = {}, page: PageRequest = { limit: PAGE_LIMIT_DEFAULT }): Promise<Page<RunEntry>> {
  const rows = await db.selectFrom('runs').selectAll().where('connector_id', '=', connectorId)
    .$if(options.stream !== undefined, (q) => q.where('stream', '=', options.stream!))
    .$if(page.after !== undefined, (q) => q.where('id', '<', page.after![0]!))
    .orderBy('id', 'desc').limit(page.limit + 1).execute();
  const { items, next } = pageOf(RUNS_LIST, rows, page.limit, (r) => [String(r.id)]);
  return { items: items.map(runEntry), next };
}

function runEntry(r: Selectable<RunsTable>): RunEntry {
  return {
    id: r.id, stream: r.stream, kind: r.kind, status: r.status,
    startedAt: new Date(r.started_at).toISOString(), endedAt: r.ended_at ? new Date(r.ended_at).toISOString() : null,
    read: Number(r.rows_read), sent: Number(r.rows_sent), unchanged: Number(r.rows_unchanged),
    rejected: Number(r.rows_rejected), deleted: Number(r.rows_deleted),
    nullCursor: Number(r.rows_null_cursor), nullKey: Number(r.rows_null_key), futureCursor: Number(r.rows_future_cursor), pages: r.pages,
    watermarkAfter: r.watermark_after, error: r.error ? `${r.error_code ?? ''} ${r.error}`.trim() : null,
    ...(r.detail == null ? {} : { detail: r.detail }),
  };
}
