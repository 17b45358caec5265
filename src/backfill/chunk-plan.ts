/**
 * How a backfill's cursor range becomes chunks, as pure functions over canonical cursor
 * text. A chunk holds the rows with `lower < cursor <= upper` (either end open), so
 * adjacent chunks share a boundary value and no row falls between two chunks or into both.
 * The first chunk's lower bound is the value just below `from`, so rows equal to `from`
 * are read.
 */
import { ConfigError } from '../errors.ts';
import type { CursorKind, CursorValue } from '../interfaces.ts';
import { canonicalCursor } from '../sources/canonical-values.ts';
import { compareCursor } from '../engine/watermark.ts';
import { formatTime, parseTime, resolutionTicks } from '../sources/cursor-time.ts';

/** One chunk's cursor bounds: `lower` exclusive, `upper` inclusive; absent = open. */
export interface ChunkBounds {
  lower?: CursorValue;
  upper?: CursorValue;
}

/** What the planner knows about the stream's cursor values within its filter. */
export interface CursorRange {
  /** Requested bounds (inclusive), canonical. */
  from?: CursorValue;
  to?: CursorValue;
  /** Smallest and largest cursor in the view; absent when the view is empty. */
  min?: CursorValue;
  max?: CursorValue;
  /** Where the last chunk ends when no `to` was given (the backfill's seed); open when absent. */
  end?: CursorValue;
}

/** The value just below `value` at the database's precision. */
export function predecessor(kind: CursorKind, value: CursorValue): CursorValue {
  if (kind === 'integer') return (BigInt(value) - 1n).toString();
  const { ticks, digits, zoned } = parseTime(value);
  return formatTime(ticks - resolutionTicks(digits), digits, zoned);
}

/** Up to n-1 strictly increasing values that split [lo, hi] into n even parts (fewer when the range is too narrow). */
export function splitPoints(kind: CursorKind, lo: CursorValue, hi: CursorValue, n: number): CursorValue[] {
  if (n <= 1 || compareCursor(kind, lo, hi) >= 0) return [];
  const a = kind === 'integer' ? { ticks: BigInt(lo), digits: 0, zoned: false } : parseTime(lo);
  const b = kind === 'integer' ? BigInt(hi) : parseTime(hi).ticks;
  const points: CursorValue[] = [];
  for (let i = 1; i < n; i++) {
    const t = a.ticks + ((b - a.ticks) * BigInt(i)) / BigInt(n);
    const value = kind === 'integer' ? t.toString() : formatTime(t, a.digits, a.zoned);
    // Interior points only: a split at or past hi would leave an empty last chunk.
    if (compareCursor(kind, value, hi) >= 0) break;
    if (points.length === 0 ? compareCursor(kind, value, lo) >= 0 : compareCursor(kind, value, points.at(-1)!) > 0) points.push(value);
  }
  return points;
}

/**
 * The chunks of a backfill: the requested range (or the view's min..max) split evenly.
 * The first chunk is open below unless `from` was given, so rows below min at plan time
 * (changed since) are still covered; the last ends at `to`, else at `end`, else is open.
 */
export function planChunks(kind: CursorKind, range: CursorRange, chunks: number): ChunkBounds[] {
  const lo = range.from ?? range.min;
  const hi = range.to ?? range.max;
  const points = lo !== undefined && hi !== undefined ? splitPoints(kind, lo, hi, chunks) : [];
  const edges: (CursorValue | undefined)[] = [range.from === undefined ? undefined : predecessor(kind, range.from), ...points, range.to ?? range.end];
  return edges.slice(0, -1).map((lower, i) => ({ lower, upper: edges[i + 1] }));
}

/** Share of the view's rows expected in [from, to], assuming cursor values spread evenly. */
export function rangeShare(kind: CursorKind, range: CursorRange): number {
  const { min, max } = range;
  if (min === undefined || max === undefined) return 0;
  const ticks = (v: CursorValue) => (kind === 'integer' ? BigInt(v) : parseTime(v).ticks);
  const lo = ticks(min);
  const hi = ticks(max);
  const a = range.from === undefined ? lo : ticks(range.from) > lo ? ticks(range.from) : lo;
  const b = range.to === undefined ? hi : ticks(range.to) < hi ? ticks(range.to) : hi;
  if (b < a) return 0;
  if (hi === lo) return 1;
  return Number(b - a) / Number(hi - lo);
}

/** Whether text is a canonical time of a real calendar date. */
function isTime(value: string): boolean {
  try {
    return !Number.isNaN(Number(parseTime(value).ticks));
  } catch {
    return false;
  }
}

/**
 * A `--from`/`--to` value as canonical cursor text of the stream's kind: an integer, or a
 * date/time (`2024-01-01`, `2024-01-01 10:00`, `2024-01-01T10:00:00.5Z`). Instants
 * without a zone are UTC; local values are wall-clock times in the source's zone.
 */
/** How many fraction digits a database's canonical time values carry: its clock (`clockUtc`) shows it. */
export function clockDigits(clockUtc: string): number {
  return /\.(\d+)Z$/.exec(clockUtc)?.[1]?.length ?? 6;
}

export function parseBound(kind: CursorKind, option: string, text: string, digits: number): CursorValue {
  const problem = (message: string) => new ConfigError([{ path: option, message }]);
  if (kind === 'integer') {
    if (!/^-?\d+$/.test(text.trim())) throw problem(`"${text}" is not an integer, and the stream's cursor is an integer`);
    return BigInt(text.trim()).toString();
  }
  const withSeconds = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?![:\d])/.test(text.trim()) ? text.trim().replace(/^(.{16})/, '$1:00') : text;
  let value: CursorValue;
  try {
    value = canonicalCursor(kind, withSeconds, digits);
  } catch {
    value = '';
  }
  if (!isTime(value)) {
    throw problem(`"${text}" is not a date or time (for example 2024-01-01 or 2024-01-01T10:00:00Z)`);
  }
  return value;
}
