/**
 * How far a backfill is: rows done against the estimate, the rate of its current run and
 * the time left. Computed from the store alone, so `status` and the ops API can read it
 * while another process runs the backfill.
 */
import type { StateStore } from '../sinks/sink.ts';
import { holdsOf } from '../store/holds.ts';
import { BACKFILLS_LIST, pageOf, type Page, type PageRequest } from '../store/keyset-page.ts';
import type { BackfillStatus } from '../store/schema.ts';
import { backfillHoldKey, loadBackfill, loadBackfills, type BackfillFilter, type BackfillRecord } from './backfill-store.ts';

/** `interrupted`: marked running, but the process running it is gone; `--resume` continues it. */
export type BackfillState = BackfillStatus | 'interrupted';

export interface BackfillProgress {
  id: string;
  connector: string;
  stream: string;
  state: BackfillState;
  from?: string;
  to?: string;
  /** Estimated rows in the range (a count at start); never below rowsDone. */
  rowsEstimated: number;
  /** Rows read and confirmed at chunk checkpoints. */
  rowsDone: number;
  percent: number;
  /** Rows per second of the current (or last) run of the backfill. */
  rowsPerSecond: number;
  /** Seconds left at that rate; absent when finished or unknown. */
  etaSeconds?: number;
  chunks: { total: number; pending: number; running: number; succeeded: number; failed: number };
  createdAt: string;
  finishedAt?: string;
  error?: string;
}

/** Rate and ETA from rows done since a run started. */
export function rateAndEta(rowsDone: number, rowsBefore: number, rowsEstimated: number, elapsedSeconds: number): { rowsPerSecond: number; etaSeconds?: number } {
  const rowsPerSecond = elapsedSeconds > 0 ? Math.max(0, rowsDone - rowsBefore) / elapsedSeconds : 0;
  const left = Math.max(0, rowsEstimated - rowsDone);
  return { rowsPerSecond, etaSeconds: rowsPerSecond > 0 ? left / rowsPerSecond : undefined };
}

/** A backfill's progress as stored; `ownerLive`: a live process holds it (store/holds.ts). */
export function progressOf(b: BackfillRecord, ownerLive: boolean, now = new Date()): BackfillProgress {
  const rowsDone = b.chunks.reduce((n, c) => n + c.rowsRead, 0);
  const rowsEstimated = Math.max(b.rowsEstimated, rowsDone);
  const state: BackfillState = b.status === 'running' && !ownerLive ? 'interrupted' : b.status;
  const end = state === 'running' ? now : (b.finishedAt ?? b.heartbeatAt ?? now);
  const elapsed = b.attemptStartedAt ? (end.getTime() - b.attemptStartedAt.getTime()) / 1000 : 0;
  const { rowsPerSecond, etaSeconds } = rateAndEta(rowsDone, b.attemptRowsBefore, rowsEstimated, elapsed);
  const count = (status: string) => b.chunks.filter((c) => c.status === status).length;
  return {
    id: b.id, connector: b.connectorId, stream: b.stream, state, from: b.from, to: b.to,
    rowsEstimated, rowsDone,
    percent: b.status === 'succeeded' ? 100 : rowsEstimated > 0 ? Math.min(100, (rowsDone / rowsEstimated) * 100) : 0,
    rowsPerSecond: Math.round(rowsPerSecond),
    etaSeconds: state === 'running' && etaSeconds !== undefined ? Math.round(etaSeconds) : undefined,
    chunks: { total: b.chunks.length, pending: count('pending'), running: count('running'), succeeded: count('succeeded'), failed: count('failed') },
    createdAt: b.createdAt.toISOString(), finishedAt: b.finishedAt?.toISOString(), error: b.error,
  };
}

/** The backfills a filter selects (every one by default) with their progress, newest first. */
export async function listBackfills(store: StateStore, filter: BackfillFilter = {}): Promise<BackfillProgress[]> {
  const now = new Date();
  return Promise.all((await loadBackfills(store, filter)).map(async (b) => progressOf(b, await ownerLive(store, b), now)));
}

/** A page of `listBackfills` (newest first); keyset on the backfill id. */
export async function listBackfillPage(store: StateStore, page: PageRequest): Promise<Page<BackfillProgress>> {
  const now = new Date();
  const records = await loadBackfills(store, { before: page.after?.[0], limit: page.limit + 1 });
  const { items, next } = pageOf(BACKFILLS_LIST, records, page.limit, (b) => [b.id]);
  return { items: await Promise.all(items.map(async (b) => progressOf(b, await ownerLive(store, b), now))), next };
}

/** One backfill's progress: rows done, estimate, rate, ETA, chunks. */
export async function backfillProgress(store: StateStore, id: string): Promise<BackfillProgress> {
  const b = await loadBackfill(store, id);
  return progressOf(b, await ownerLive(store, b));
}

/** Whether a live process runs the backfill (it holds it); asked only of running ones. */
async function ownerLive(store: StateStore, b: BackfillRecord): Promise<boolean> {
  return b.status === 'running' && holdsOf(store).isHeld(backfillHoldKey(b.id));
}
