/**
 * Cursor values as canonical text (see `CursorValue`), so that text order equals value
 * order and a watermark keeps the database's full precision. Nothing here goes through
 * a JS Date for the fraction: only whole seconds are shifted when an offset must go.
 */
import type { CursorKind, CursorValue } from '../interfaces.ts';
import { PermanentError } from '../errors.ts';

/** Date, optional time with any fraction, optional zone (`Z`, `+00`, `+02:00`, ` +0530`). */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/;
const INTEGER = /^-?\d+$/;
/**
 * Date and time as a UTC session prints them: PostgreSQL's timestamptz
 * (`2024-01-02 03:04:05.123+00`), MySQL's TIMESTAMP and DATETIME (no zone), `T` and `Z`
 * spellings. Read by position, no captures: this runs for every timestamp of every row.
 */
const PLAIN_UTC = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|\+00(?::?00)?)?$/;
/** The same without a zone, in the canonical local spelling (a space between date and time). */
const PLAIN_LOCAL = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?$/;
/** Canonical instant text, `YYYY-MM-DDTHH:MM:SS.ffffffZ` (fraction length checked by the caller). */
const CANONICAL_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+Z$/;

interface Parts {
  date: string;
  time: string;
  fraction: string;
  offsetMinutes: number | undefined;
}

function parse(text: string): Parts | undefined {
  const m = DATE_TIME.exec(text.trim());
  if (!m) return undefined;
  const [, y, mo, d, h = '00', mi = '00', s = '00', fraction = '', zone] = m;
  let offsetMinutes: number | undefined;
  if (zone === 'Z') offsetMinutes = 0;
  else if (zone) {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    offsetMinutes = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || '0'));
  }
  return { date: `${y}-${mo}-${d}`, time: `${h}:${mi}:${s}`, fraction, offsetMinutes };
}

function fixFraction(fraction: string, digits: number): string {
  // Longer fractions than the dialect's precision do not occur; keep them rather than lose digits.
  return fraction.length >= digits ? fraction : fraction + ZEROS[digits - fraction.length]!;
}

/** Zeros to pad a fraction with, by count: built once, not for every value. */
const ZEROS = Array.from({ length: 10 }, (_, n) => '0'.repeat(n));

/** The fraction's digits of plain text (PLAIN_UTC, PLAIN_LOCAL); '' without one. */
function plainFraction(text: string): string {
  if (text.charCodeAt(19) !== 46) return '';
  let end = 20;
  while (end < text.length && text.charCodeAt(end) >= 48 && text.charCodeAt(end) <= 57) end++;
  return text.slice(20, end);
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** Shifts whole seconds to UTC; the fraction never changes with an offset. */
function toUtc(date: string, time: string, offsetMinutes: number): { date: string; time: string } {
  if (offsetMinutes === 0) return { date, time };
  const [y, mo, d] = date.split('-').map(Number) as [number, number, number];
  const [h, mi, s] = time.split(':').map(Number) as [number, number, number];
  const t = new Date(0);
  t.setUTCFullYear(y, mo - 1, d); // setUTCFullYear keeps years < 100 literal, Date.UTC would not
  t.setUTCHours(h, mi - offsetMinutes, s, 0);
  return {
    date: `${pad(t.getUTCFullYear(), 4)}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}`,
    time: `${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}:${pad(t.getUTCSeconds())}`,
  };
}

/**
 * `YYYY-MM-DDTHH:MM:SS.ffffffZ` from a database's text for a zoned time (text without a
 * zone is taken as UTC, the session zone). Text it cannot read (`infinity`) is returned as is.
 */
export function canonicalInstant(text: string, digits: number): string {
  // Already canonical (the type parsers return this for every cursor value): nothing to build.
  if (CANONICAL_INSTANT.test(text) && text.length === 21 + digits) return text;
  // What a UTC session prints (PostgreSQL's timestamptz, MySQL's TIMESTAMP): cut by position.
  if (PLAIN_UTC.test(text)) return `${text.slice(0, 10)}T${text.slice(11, 19)}.${fixFraction(plainFraction(text), digits)}Z`;
  const p = parse(text);
  if (!p) return text;
  const { date, time } = toUtc(p.date, p.time, p.offsetMinutes ?? 0);
  return `${date}T${time}.${fixFraction(p.fraction, digits)}Z`;
}

/** `YYYY-MM-DD HH:MM:SS.ffffff` from a database's text for a wall-clock time or a date. */
export function canonicalLocal(text: string, digits: number): string {
  if (PLAIN_LOCAL.test(text)) {
    const fraction = plainFraction(text);
    // Already canonical (MySQL's DATETIME(6), PostgreSQL's timestamp): the text itself.
    return fraction.length === digits ? text : `${text.slice(0, 19)}.${fixFraction(fraction, digits)}`;
  }
  const p = parse(text);
  if (!p) return text;
  return `${p.date} ${p.time}.${fixFraction(p.fraction, digits)}`;
}

/** The canonical text of a cursor value as the driver returned it; throws on values no kind can hold. */
export function canonicalCursor(kind: CursorKind, value: unknown, digits: number): CursorValue {
  const text = typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'bigint' ? String(value) : undefined;
  if (text === undefined || (kind === 'integer' && !INTEGER.test(text))) {
    throw new PermanentError('RP_CURSOR_UNSUPPORTED', `The cursor returned ${String(value)}, which is not a ${kind} value.`);
  }
  if (kind === 'integer') return text;
  return kind === 'instant' ? canonicalInstant(text, digits) : canonicalLocal(text, digits);
}
