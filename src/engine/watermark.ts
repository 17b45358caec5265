/**
 * Watermark decisions as pure functions over typed values; the run loop does the I/O.
 *
 * A watermark is the (cursor, key) position of the last row the sink accepted. Reads go
 * strictly after it in (cursor, key) order, so rows that share a cursor value are never
 * skipped at a page boundary, and the boundary row is not re-sent.
 */
import type { CursorKind, CursorValue, Position } from '../interfaces.ts';
import { PullerError } from '../errors.ts';

/** Compares two cursor values of one kind: negative, zero or positive. */
export function compareCursor(kind: CursorKind, a: CursorValue, b: CursorValue): number {
  if (kind === 'integer') {
    const d = BigInt(a) - BigInt(b);
    return d < 0n ? -1 : d > 0n ? 1 : 0;
  }
  // Canonical timestamps are fixed-width, so text order is time order.
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The watermark after a confirmed page: the page's last position, or the current one when
 * the page is empty or lies before it (a lookback re-read never moves a watermark back).
 * Rows must come in non-decreasing cursor order, or the view is not what we think it is.
 */
export function nextWatermark(kind: CursorKind, current: Position | undefined, positions: Position[]): Position | undefined {
  for (let i = 1; i < positions.length; i++) {
    if (compareCursor(kind, positions[i - 1]!.cursor, positions[i]!.cursor) > 0) {
      throw new PullerError(
        'RP_CURSOR_REGRESSED',
        `cursor went from ${positions[i - 1]!.cursor} back to ${positions[i]!.cursor} within one page`,
      );
    }
  }
  const last = positions.at(-1);
  if (!last) return current;
  if (!current) return last;
  return comparePosition(kind, last, current) > 0 ? last : current;
}

/** Orders positions by cursor, then key (keys compared as numbers when both are integers). */
export function comparePosition(kind: CursorKind, a: Position, b: Position): number {
  const c = compareCursor(kind, a.cursor, b.cursor);
  if (c !== 0) return c;
  for (let i = 0; i < Math.max(a.key.length, b.key.length); i++) {
    const x = a.key[i];
    const y = b.key[i];
    if (x === y) continue;
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (INTEGER.test(x) && INTEGER.test(y)) return compareCursor('integer', x, y);
    return x < y ? -1 : 1;
  }
  return 0;
}

const INTEGER = /^-?\d+$/;

/** A UTC instant as canonical text, microseconds kept: `2024-01-02T03:04:05.123456Z`. */
interface Micros {
  /** Whole milliseconds since the epoch. */
  ms: number;
  /** Digits below the millisecond (3 for microseconds, 4 for SQL Server's 100 ns). */
  sub: string;
}

function parseUtc(text: string): Micros {
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z?$/.exec(text);
  if (!m) throw new Error(`not a canonical UTC timestamp: ${text}`);
  const fraction = (m[3] ?? '').padEnd(6, '0');
  return { ms: Date.parse(`${m[1]}T${m[2]}.${fraction.slice(0, 3)}Z`), sub: fraction.slice(3) };
}

function formatWall(ms: number, sub: string, timeZone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit',
    }).formatToParts(new Date(ms)).map((p) => [p.type, p.value]),
  );
  const millis = String(((ms % 1000) + 1000) % 1000).padStart(3, '0');
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}.${millis}${sub}`;
}

/**
 * The settle ceiling: the partner clock minus the settle window, in the cursor's own
 * representation. Rows newer than it are left for a later run, so a transaction that
 * commits late with an older cursor value is still read. Integer cursors have no clock
 * relation, so they get no ceiling (see README: late commits and integer cursors).
 */
export function settleCeiling(kind: CursorKind, clockUtc: string, settleSeconds: number, timeZone: string): CursorValue | undefined {
  if (kind === 'integer') return undefined;
  const { ms, sub } = parseUtc(clockUtc);
  const at = ms - settleSeconds * 1000;
  if (kind === 'local') return formatWall(at, sub, timeZone);
  return `${new Date(at).toISOString().slice(0, 23)}${sub}Z`;
}

/**
 * Where a run with a lookback window starts reading: the watermark's cursor minus the
 * window, before any key. Re-read rows are filtered by change detection, not re-sent.
 */
export function lookbackStart(kind: CursorKind, watermark: Position, lookbackSeconds: number, timeZone: string): Position {
  if (lookbackSeconds <= 0 || kind === 'integer') return watermark;
  const utc = kind === 'instant' ? watermark.cursor : localToUtc(watermark.cursor, timeZone);
  const start = settleCeiling(kind, utc, lookbackSeconds, timeZone)!;
  return { cursor: start, key: [] };
}

/** Converts a canonical local wall time in `timeZone` to canonical UTC text. */
export function localToUtc(local: string, timeZone: string): string {
  const { ms: wallAsUtc, sub } = parseUtc(local);
  // The zone's offset at that wall time; a second pass settles DST edges.
  let guess = wallAsUtc;
  for (let i = 0; i < 2; i++) {
    const wall = parseUtc(formatWall(guess, '', timeZone)).ms;
    guess = guess - (wall - wallAsUtc);
  }
  return `${new Date(guess).toISOString().slice(0, 23)}${sub}Z`;
}

/** A text form of a cursor value that sorts like the value (integers zero-padded, sign-aware). */
export function versionKey(kind: CursorKind, cursor: CursorValue): string {
  if (kind !== 'integer') return cursor;
  const n = BigInt(cursor);
  // Offset so that negatives sort first: 40 digits hold any 128-bit value.
  return (n + 10n ** 39n).toString().padStart(40, '0');
}
