/**
 * Watermark decisions as pure functions over typed values; the run loop does the I/O.
 *
 * A watermark is the (cursor, key) position of the last row the sink accepted. Reads go
 * strictly after it in (cursor, key) order, so rows that share a cursor value are never
 * skipped at a page boundary, and the boundary row is not re-sent.
 */
import type { CursorKind, CursorValue, Position } from '../interfaces.ts';
import { PullerError } from '../errors.ts';
import {
  formatTime, parseTime, repeatedWallRange, resolutionTicks, TICKS_PER_MS, utcTicksOfWall, wallTicks,
} from '../sources/cursor-time.ts';

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

/**
 * The settle ceiling: the newest cursor value a read may take now, in the cursor's own
 * representation. Rows newer than it are left for a later run, so a transaction that
 * commits late with an older cursor value is still read. It is the partner clock minus the
 * settle window, and then:
 * - one grain less, less one digit: a column that keeps seconds (DATETIME) or days (DATE)
 *   stores a moment as the start of its second or day, and that second or day can still
 *   receive rows until it has passed entirely (`grainTicks`, default: the text's own digit);
 * - for a wall-clock cursor, capped below the hour a daylight-saving fall-back repeats,
 *   while the clock is in either pass of it: its wall times come twice, and a row written
 *   in the second pass sorts before one written in the first.
 * Integer cursors have no clock relation, so they get no ceiling (docs/incremental-pulls.md: late commits and
 * integer cursors).
 */
export function settleCeiling(
  kind: CursorKind, clockUtc: string, settleSeconds: number, timeZone: string, grainTicks?: bigint,
): CursorValue | undefined {
  if (kind === 'integer') return undefined;
  const clock = parseTime(clockUtc);
  const tick = resolutionTicks(clock.digits);
  const at = clock.ticks - BigInt(Math.round(settleSeconds * 1000)) * TICKS_PER_MS;
  let value = at;
  if (kind === 'local') {
    const repeated = repeatedWallRange(Number(at / TICKS_PER_MS), timeZone);
    value = repeated ? repeated.from - tick : wallTicks(at, timeZone);
  }
  const grain = grainTicks ?? tick;
  return formatTime(value - (grain > tick ? grain - tick : 0n), clock.digits, kind === 'instant');
}

/** What rows ahead of the partner clock usually mean. */
export const FUTURE_CURSOR_HINT =
  'rows have a cursor ahead of the partner clock by more than the settle window; they wait unread until the clock passes them. ' +
  'A wall-clock cursor in another zone than `timezone` (source or stream) does this: check the zone its writer stamps in';

/**
 * The bound beyond which a cursor is ahead of the partner clock by more than the settle
 * window: such rows are the mark of a wrong `timezone` (they would wait unread until the
 * clock catches up). Undefined for integer cursors.
 */
export function futureBound(kind: CursorKind, clockUtc: string, settleSeconds: number, timeZone: string): CursorValue | undefined {
  if (kind === 'integer') return undefined;
  const clock = parseTime(clockUtc);
  const at = clock.ticks + BigInt(Math.round(settleSeconds * 1000)) * TICKS_PER_MS;
  return formatTime(kind === 'local' ? wallTicks(at, timeZone) : at, clock.digits, kind === 'instant');
}

/**
 * Where a run with a lookback window starts reading: the watermark's cursor minus the
 * window, before any key. Re-read rows are filtered by change detection, not re-sent.
 */
export function lookbackStart(kind: CursorKind, watermark: Position, lookbackSeconds: number): Position {
  if (lookbackSeconds <= 0 || kind === 'integer') return watermark;
  const t = parseTime(watermark.cursor);
  return { cursor: formatTime(t.ticks - BigInt(Math.round(lookbackSeconds * 1000)) * TICKS_PER_MS, t.digits, t.zoned), key: [] };
}

/** Converts a canonical local wall time in `timeZone` to canonical UTC text. */
export function localToUtc(local: string, timeZone: string): string {
  const t = parseTime(local);
  return formatTime(utcTicksOfWall(t.ticks, timeZone), t.digits, true);
}

/**
 * The version just above `version`: below every newer version of the same cursor (versions of
 * one cursor have one length, so they differ before the added character), above every read at
 * `version` itself. What reconcile gives a delete it saw after the read that delivered `version`.
 */
export function versionJustAfter(version: string): string {
  return `${version}+`;
}

/** A text form of a cursor value that sorts like the value (integers zero-padded, sign-aware). */
export function versionKey(kind: CursorKind, cursor: CursorValue): string {
  if (kind !== 'integer') return cursor;
  const n = BigInt(cursor);
  // Offset so that negatives sort first: 40 digits hold any 128-bit value.
  return (n + 10n ** 39n).toString().padStart(40, '0');
}
