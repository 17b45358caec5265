/**
 * Arithmetic on canonical time text (`CursorValue` of instant and local cursors) without
 * losing a digit: values become integer ticks of 100 ns (SQL Server's resolution, the finest
 * any source has) since the epoch, wall-clock fields read as if they were UTC, and go back
 * to text with the digits they came with. Time zones are applied by offset, from Intl.
 */

/** A canonical time as 100 ns ticks since the epoch, with the form it came in. */
export interface TimeTicks {
  ticks: bigint;
  /** Fraction digits of the text (6, or 7 for SQL Server). */
  digits: number;
  /** Instant text (`...Z`) rather than wall-clock text. */
  zoned: boolean;
}

export const TICKS_PER_MS = 10_000n;
export const TICKS_PER_SECOND = 10_000_000n;
export const TICKS_PER_DAY = 86_400n * TICKS_PER_SECOND;

const TIME = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z?)$/;

/** Reads canonical time text (`2024-01-02T03:04:05.123456Z` or `2024-01-02 03:04:05.123456`). */
export function parseTime(text: string): TimeTicks {
  const m = TIME.exec(text);
  if (!m) throw new Error(`not a canonical time: ${text}`);
  const fraction = m[3] ?? '';
  const seconds = BigInt(Date.parse(`${m[1]}T${m[2]}Z`) / 1000);
  return { ticks: seconds * TICKS_PER_SECOND + BigInt(fraction.padEnd(7, '0').slice(0, 7)), digits: fraction.length || 6, zoned: m[4] === 'Z' };
}

/** Writes ticks as canonical text with `digits` fraction digits (finer ticks are cut, never rounded up). */
export function formatTime(ticks: bigint, digits: number, zoned: boolean): string {
  // Floor division, so times before 1970 keep a positive fraction.
  let seconds = ticks / TICKS_PER_SECOND;
  if (ticks % TICKS_PER_SECOND !== 0n && ticks < 0n) seconds -= 1n;
  const fraction = (ticks - seconds * TICKS_PER_SECOND).toString().padStart(7, '0').slice(0, digits);
  const iso = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  const text = `${iso}.${fraction}`;
  return zoned ? `${text}Z` : text.replace('T', ' ');
}

/** One unit of the last digit of a text with `digits` fraction digits, in ticks. */
export function resolutionTicks(digits: number): bigint {
  return 10n ** BigInt(Math.max(0, 7 - digits));
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The zone's offset (wall clock minus UTC) at a UTC instant, in ms. */
export function zoneOffsetMs(utcMs: number, timeZone: string): number {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
    formatters.set(timeZone, format);
  }
  const whole = Math.floor(utcMs / 1000) * 1000;
  const p = Object.fromEntries(format.formatToParts(new Date(whole)).map((x) => [x.type, x.value]));
  return Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second)) - whole;
}

/** A UTC instant's wall-clock ticks in a zone. */
export function wallTicks(utcTicks: bigint, timeZone: string): bigint {
  return utcTicks + BigInt(zoneOffsetMs(Number(utcTicks / TICKS_PER_MS), timeZone)) * TICKS_PER_MS;
}

/** The UTC instant of a wall-clock time in a zone (at a DST edge, the offset in force just after it). */
export function utcTicksOfWall(wall: bigint, timeZone: string): bigint {
  let guess = wall;
  // Two passes settle the offset at daylight-saving edges.
  for (let i = 0; i < 2; i++) guess = wall - BigInt(zoneOffsetMs(Number(guess / TICKS_PER_MS), timeZone)) * TICKS_PER_MS;
  return guess;
}

const HOUR_MS = 3_600_000;

/**
 * The wall-clock range a fall-back transition near `utcMs` repeats, when `utcMs` lies in
 * either of its two passes: `[from, to)` in wall ticks. Undefined elsewhere.
 */
export function repeatedWallRange(utcMs: number, timeZone: string): { from: bigint; to: bigint } | undefined {
  // Zones step back by at most a couple of hours; a wider window finds every fall-back that matters.
  const before = zoneOffsetMs(utcMs - 3 * HOUR_MS, timeZone);
  const after = zoneOffsetMs(utcMs + 3 * HOUR_MS, timeZone);
  if (after >= before) return undefined;
  // The transition instant, to the second: the first instant with the later offset.
  let lo = utcMs - 3 * HOUR_MS;
  let hi = utcMs + 3 * HOUR_MS;
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (zoneOffsetMs(mid, timeZone) === before) lo = mid;
    else hi = mid;
  }
  const back = before - after;
  if (utcMs < hi - back || utcMs >= hi + back) return undefined;
  const to = BigInt(hi + before) * TICKS_PER_MS;
  return { from: to - BigInt(back) * TICKS_PER_MS, to };
}
