/**
 * The named value transforms of a stream's `fields` (see `transformSpec`), each a pure
 * function of (value, field name). A value that cannot be transformed is a RecordError
 * naming the field: the record is quarantined, the run goes on.
 *
 * Decisions:
 * - Every transform except `default` returns null for null: a NULL stays a NULL (it
 *   deletes the field in Reach) unless the mapping says what to send instead.
 * - trim, lowercase, uppercase and empty_to_null change strings only and pass other
 *   values through; empty_to_null turns '' into null (put `trim` first for blanks).
 * - decimal and integer refuse values a JSON number cannot carry exactly; they never round.
 * - map looks values up by their text (`1`, `true`, `paid`); an unmapped value is a
 *   RecordError listing the allowed values, unless the map has a `'*'` key, whose value
 *   is then used for every other value.
 * - phone_e164 drops an extension (E.164 has none).
 */
import { isSupportedCountry, parsePhoneNumberFromString } from 'libphonenumber-js';
import type { CountryCode } from 'libphonenumber-js';
import type { TransformSpec } from '../config/connector-schema.ts';
import { ConfigError, RecordError } from '../errors.ts';
import { isUtcInstant } from './date-time-format.ts';

/** What transforms need from the connector. */
export interface TransformEnv {
  /** IANA zone of the source's zoneless timestamps. */
  timezone: string;
  /** Region of phone numbers written without a +country code. */
  defaultPhoneRegion?: string;
}

/** A compiled transform: returns the new value or throws RecordError naming `field`. */
export type Transform = (value: unknown, field: string) => unknown;

type TransformName = Extract<TransformSpec, string> | 'map' | 'default';
type Scalar = string | number | boolean;

function preview(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}

/** Applies `fn` to strings; every other value (null included) passes unchanged. */
const onText = (fn: (text: string) => unknown): Transform => (value) => (typeof value === 'string' ? fn(value) : value);

/** Applies `fn` to every value but null. */
const nonNull = (fn: Transform): Transform => (value, field) => (value === null ? null : fn(value, field));

/** `[sign]digits e exponent` with no leading or trailing zeros, for comparing decimal texts by value. */
const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;
function canonicalDecimal(text: string): string | undefined {
  const match = DECIMAL.exec(text);
  if (!match || (match[2] === '' && !match[3])) return undefined;
  const [, sign, whole = '', fraction = '', exponent = '0'] = match;
  const digits = (whole + fraction).replace(/^0+/, '');
  if (digits === '') return '0';
  const significant = digits.replace(/0+$/, '');
  return `${sign === '-' ? '-' : ''}${significant}e${Number(exponent) - fraction.length + digits.length - significant.length}`;
}

/**
 * `12.50` -> `12.5`, `007.0` -> `7`: a plain decimal text without its insignificant zeros,
 * which is how String(number) prints an exactly representable value. Cheap, for the common case.
 */
const PLAIN_DECIMAL = /^-?\d+\.\d+$/;
function trimmedDecimal(text: string): string {
  let end = text.length;
  while (text.charCodeAt(end - 1) === 48 /* 0 */) end--;
  if (text.charCodeAt(end - 1) === 46 /* . */) end--;
  const negative = text.charCodeAt(0) === 45 /* - */;
  let start = negative ? 1 : 0;
  while (text.charCodeAt(start) === 48 && start + 1 < end && text.charCodeAt(start + 1) !== 46) start++;
  return (negative ? '-' : '') + text.slice(start, end);
}

/** A decimal text as a JS number, only when the number reads back as the same decimal value. */
function decimal(value: unknown, field: string): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value !== 'string') throw new RecordError([field], `${field}: expected a decimal, got ${typeof value}`);
  const number = Number(value);
  const text = String(number);
  if (text === value && Number.isFinite(number)) return number;
  // Numeric columns arrive as `12.50`: their trailing zeros alone do not need the exact comparison below.
  if (PLAIN_DECIMAL.test(value) && trimmedDecimal(value) === text) return number;
  const canonical = canonicalDecimal(value);
  if (canonical === undefined) throw new RecordError([field], `${field}: ${preview(value)} is not a decimal number`);
  if (canonicalDecimal(text) !== canonical) {
    throw new RecordError([field], `${field}: ${preview(value)} cannot be sent exactly as a JSON number (it would become ${text}); map it to a string field or round it in the view`);
  }
  return number;
}

const INTEGER = /^[+-]?\d+$/;
/** An integer (text, number or bigint) as a JS number, only within ±(2^53 - 1). */
function integer(value: unknown, field: string): number {
  const number = typeof value === 'string' && INTEGER.test(value) ? Number(value)
    : typeof value === 'bigint' || typeof value === 'number' ? Number(value)
    : Number.NaN;
  if (!Number.isInteger(number)) throw new RecordError([field], `${field}: ${preview(value)} is not an integer`);
  if (!Number.isSafeInteger(number) || (typeof value === 'bigint' && BigInt(number) !== value)) {
    throw new RecordError([field], `${field}: ${preview(value)} is beyond ±2^53-1 and cannot be sent exactly as a JSON number; map it to a string field`);
  }
  return number;
}

const TRUE_TEXT = new Set(['1', 't', 'true']);
const FALSE_TEXT = new Set(['0', 'f', 'false']);
function boolean(value: unknown, field: string): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 1 || value === 0) return value === 1;
  if (typeof value === 'string') {
    const text = value.toLowerCase();
    if (TRUE_TEXT.has(text)) return true;
    if (FALSE_TEXT.has(text)) return false;
  }
  throw new RecordError([field], `${field}: ${preview(value)} is not a boolean (true/false, 1/0, t/f)`);
}

function json(value: unknown, field: string): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch (error) {
    throw new RecordError([field], `${field}: not valid JSON text (${(error as Error).message})`, { cause: error });
  }
}

function string(value: unknown): string {
  return typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/**
 * Date, time, fraction and zone of a timestamp text. Canonical instants end in `Z`; an
 * explicit `±HH:MM` offset is honoured too; without a zone the text is wall-clock time
 * in the source's zone. A date alone means its midnight.
 */
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})?$/;
const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

function utcMs(year: number, month: number, day: number, hour: number, minute: number, second: number): number {
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not move years 0-99 into the 1900s.
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  return date.getTime();
}

/** Offset (ms) of `timeZone` from UTC at an instant, read through Intl. */
function zoneOffset(format: Intl.DateTimeFormat, epochMs: number): number {
  const parts: Record<string, number> = {};
  for (const part of format.formatToParts(epochMs)) if (part.type !== 'literal') parts[part.type] = Number(part.value);
  const wall = utcMs(parts.year!, parts.month!, parts.day!, parts.hour!, parts.minute!, parts.second!);
  return wall - Math.floor(epochMs / 1000) * 1000;
}

/**
 * The UTC instant of a wall-clock time in a zone, with Temporal's "compatible"
 * disambiguation: a time that occurs twice (clocks turned back) is its earlier instant;
 * a time that never occurs (clocks turned forward) moves forward by the gap, as
 * PostgreSQL's `AT TIME ZONE` does.
 */
function wallToUtc(format: Intl.DateTimeFormat, wallMs: number): number {
  const before = zoneOffset(format, wallMs - DAY_MS);
  const after = zoneOffset(format, wallMs + DAY_MS);
  const candidates = [...new Set([before, after])]
    .map((offset) => wallMs - offset)
    .filter((utc) => zoneOffset(format, utc) === wallMs - utc);
  return candidates.length > 0 ? Math.min(...candidates) : wallMs - before;
}

/**
 * Wall-clock ms -> UTC ms in one zone. Intl is slow (µs per call), so the offset is cached
 * per wall-clock day when it is the same a day before and two days after: no zone changes
 * its offset twice within three days. Days near a transition are resolved per value.
 */
function localToUtc(timeZone: string): (wallMs: number) => number {
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone, hourCycle: 'h23',
      year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
  } catch (error) {
    throw new ConfigError([{ path: 'source.timezone', message: `"${timeZone}" is not an IANA time zone (${(error as Error).message})` }]);
  }
  const steadyOffsetByDay = new Map<number, number | null>();
  return (wallMs) => {
    const day = Math.floor(wallMs / DAY_MS);
    let offset = steadyOffsetByDay.get(day);
    if (offset === undefined) {
      const before = zoneOffset(format, (day - 1) * DAY_MS);
      offset = before === zoneOffset(format, (day + 2) * DAY_MS) ? before : null;
      if (steadyOffsetByDay.size >= 10_000) steadyOffsetByDay.clear();
      steadyOffsetByDay.set(day, offset);
    }
    return offset === null ? wallToUtc(format, wallMs) : wallMs - offset;
  };
}

/** To canonical UTC text (`2024-01-02T03:04:05.123456Z`, as the sources return zoned timestamps). */
function iso8601(env: TransformEnv): Transform {
  const toUtc = env.timezone === 'UTC' ? undefined : localToUtc(env.timezone);
  return nonNull((value, field) => {
    // Already what this transform returns: the text itself, once its date is known to be real.
    if (typeof value === 'string' && isUtcInstant(value)) return value;
    const match = typeof value === 'string' ? TIMESTAMP.exec(value) : null;
    if (!match) throw new RecordError([field], `${field}: ${preview(value)} is not a timestamp (YYYY-MM-DD[ HH:MM:SS[.fraction]][Z])`);
    const [, y, mo, d, h = '00', mi = '00', s = '00', fraction, zone] = match;
    const wall = utcMs(Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(s));
    const check = new Date(wall);
    if (check.getUTCMonth() + 1 !== Number(mo) || check.getUTCDate() !== Number(d) || check.getUTCHours() !== Number(h) || check.getUTCMinutes() !== Number(mi) || check.getUTCSeconds() !== Number(s)) {
      throw new RecordError([field], `${field}: ${preview(value)} is not a valid date and time`);
    }
    let utc = wall;
    if (zone === undefined) {
      if (toUtc) utc = toUtc(wall);
    } else if (zone !== 'Z') {
      const minutes = Number(zone.slice(1, 3)) * 60 + Number(zone.slice(-2));
      utc = wall - (zone.startsWith('-') ? -minutes : minutes) * MINUTE_MS;
    }
    // The fraction is copied as text: Date keeps milliseconds only.
    const iso = new Date(utc).toISOString();
    return `${iso.slice(0, iso.indexOf('.'))}${fraction === undefined ? '' : `.${fraction}`}Z`;
  });
}

function phoneE164(region: string | undefined): Transform {
  if (region !== undefined && !isSupportedCountry(region)) {
    throw new ConfigError([{ path: 'phone_e164.region', message: `"${region}" is not a region libphonenumber knows; use an ISO 3166 alpha-2 code like US` }]);
  }
  return nonNull((value, field) => {
    const text = typeof value === 'number' ? String(value) : value;
    const phone = typeof text === 'string' ? parsePhoneNumberFromString(text, region as CountryCode | undefined) : undefined;
    // The number itself is personal data: the message names the field, not the value.
    if (!phone?.isValid()) {
      throw new RecordError([field], `${field}: not a valid phone number${region ? ` (default region ${region})` : ' (no default region: the number needs a +country code)'}`);
    }
    return phone.number;
  });
}

type ValueMap = Record<string, Scalar | null>;
function valueMap(table: ValueMap): Transform {
  const fallback = Object.hasOwn(table, '*') ? { value: table['*'] } : undefined;
  const allowed = Object.keys(table).filter((key) => key !== '*').map((key) => JSON.stringify(key)).join(', ');
  return nonNull((value, field) => {
    const key = typeof value === 'object' ? undefined : String(value);
    if (key !== undefined && Object.hasOwn(table, key)) return table[key];
    if (fallback) return fallback.value;
    throw new RecordError([field], `${field}: ${preview(value)} is not one of the mapped values (${allowed})`);
  });
}

/** Every transform by the name used in connector files, built from its option and the connector. */
export const TRANSFORMS = {
  trim: () => onText((text) => text.trim()),
  lowercase: () => onText((text) => text.toLowerCase()),
  uppercase: () => onText((text) => text.toUpperCase()),
  empty_to_null: () => onText((text) => (text === '' ? null : text)),
  phone_e164: (option: { region: string } | undefined, env: TransformEnv) => phoneE164(option?.region ?? env.defaultPhoneRegion),
  iso8601: (_option: undefined, env: TransformEnv) => iso8601(env),
  decimal: () => nonNull(decimal),
  integer: () => nonNull(integer),
  json: () => nonNull(json),
  boolean: () => nonNull(boolean),
  string: () => nonNull(string),
  map: (table: ValueMap) => valueMap(table),
  default: (value: Scalar): Transform => (current) => (current === null ? value : current),
} satisfies Record<TransformName, (option: never, env: TransformEnv) => Transform>;

/** Builds the transform a connector file names. */
export function compileTransform(spec: TransformSpec, env: TransformEnv): Transform {
  if (typeof spec === 'string') return TRANSFORMS[spec](undefined, env);
  if ('map' in spec) return TRANSFORMS.map(spec.map);
  if ('default' in spec) return TRANSFORMS.default(spec.default);
  return TRANSFORMS.phone_e164(spec.phone_e164, env);
}

/** Builds a list of transforms applied left to right. */
export function compilePipeline(specs: readonly TransformSpec[], env: TransformEnv): Transform {
  const steps = specs.map((spec) => compileTransform(spec, env));
  // One transform is the pipeline; more run in a loop: `reduce` made a closure per field of every row.
  if (steps.length === 1) return steps[0]!;
  return (value, field) => {
    let current = value;
    for (const step of steps) current = step(current, field);
    return current;
  };
}
