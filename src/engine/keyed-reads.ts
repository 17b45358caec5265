/**
 * Rows read again by primary key (retry-rejects, verify's repair): in chunks that fit the
 * bound-parameter limit, each in a read session with its settle ceiling, judged like a page.
 * A row that changed within the settle window is left for the pulls, like any unsettled row.
 */
import type { Page, Source } from '../sources/source.ts';
import { judgePage, type JudgedPage } from './page-judgement.ts';
import { readCeiling, type StreamPlan } from './stream-plan.ts';
import { compareCursor } from './watermark.ts';

// Key values are bound one parameter each; SQL Server allows 2100 per statement.
const MAX_BOUND_KEY_VALUES = 1000;

/** One chunk of keys read again: what came back, how many had not settled, and the judged page of the rest. */
export interface KeyedRead {
  keys: string[][];
  page: Page;
  unsettled: number;
  judged: JudgedPage;
}

/** Reads `keys` in chunks, handing each chunk's settled rows, judged, to `each` before the next is read. */
export async function readByKeys(plan: StreamPlan, source: Source, runId: string, keys: string[][], each: (read: KeyedRead) => Promise<void>): Promise<void> {
  const chunkSize = Math.max(1, Math.floor(MAX_BOUND_KEY_VALUES / plan.stream.primary_key.length));
  for (let i = 0; i < keys.length; i += chunkSize) {
    const chunk = keys.slice(i, i + chunkSize);
    const { page, ceiling } = await source.withReadSession(async (session) => ({
      page: await session.readKeys(plan.spec, chunk), ceiling: await readCeiling(plan, session),
    }));
    const settled = page.positions.map((p) => ceiling === undefined || compareCursor(plan.cursorKind, p.cursor, ceiling) <= 0);
    const judged = judgePage(plan, runId, page.rows.filter((_, j) => settled[j]), page.positions.filter((_, j) => settled[j]));
    await each({ keys: chunk, page, unsettled: settled.filter((s) => !s).length, judged });
  }
}
