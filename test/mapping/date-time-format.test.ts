/**
 * The quick `date-time` check (mapping/date-time-format.ts) answers exactly as Ajv's full
 * format on every text: instants in the shape it checks itself (valid or not: month 13,
 * 29 February of a common year, hour 24, a leap second) and every other spelling, which it
 * hands on. And a record's invalid instant is still refused, naming the field.
 */
import fc from 'fast-check';
import ajvFormats from 'ajv-formats/dist/formats.js';
import { quickDateTime } from '../../src/mapping/date-time-format.ts';
import { validate } from '../../src/mapping/validator.ts';
import { builtin } from './fixtures.ts';
import { describe, expect, test } from 'vitest';

const full = (ajvFormats.fullFormats['date-time'] as { validate: (text: string) => boolean }).validate;
const quick = quickDateTime(full);

const digits = (n: number, max: number) => fc.integer({ min: 0, max }).map((v) => String(v).padStart(n, '0'));
/** Texts in and around the shape the quick check reads: any digits in each place, fractions, zones, separators. */
const instantLike = fc.tuple(
  digits(4, 9999), digits(2, 99), digits(2, 99), fc.constantFrom('T', 't', ' ', 'X'),
  digits(2, 99), digits(2, 99), digits(2, 99), fc.constantFrom('', '.5', '.123456', '.', '.1234567890'),
  fc.constantFrom('Z', 'z', '', '+00:00', '-05:30', '+2400', 'ZZ'),
).map((parts) => `${parts.slice(0, 3).join('-')}${parts[3]}${parts.slice(4, 7).join(':')}${parts[7]}${parts[8]}`);
/** The same with small numbers, where the calendar edges are: months 0-13, days 0-32, hours 22-24, seconds 58-60. */
const nearEdges = fc.tuple(
  fc.constantFrom('1900', '2000', '2023', '2024', '2100', '0000'), digits(2, 13), digits(2, 32),
  fc.integer({ min: 22, max: 24 }), fc.integer({ min: 58, max: 60 }), fc.integer({ min: 58, max: 60 }),
).map(([y, mo, d, h, mi, s]) => `${y}-${mo}-${d}T${h}:${mi}:${s}.000000Z`);

describe('date-time format', () => {
  test('the quick check answers as the full format on instants, their edges and anything else', () => {
    fc.assert(fc.property(fc.oneof(instantLike, nearEdges, fc.string()), (text) => quick(text) === full(text)), { numRuns: 20_000 });
    for (const text of ['2024-02-29T00:00:00Z', '2023-02-29T00:00:00Z', '2024-12-31T23:59:60Z', '2024-13-01T00:00:00Z', '2024-04-31T10:00:00.5Z']) {
      expect(quick(text)).toBe(full(text));
    }
  });

  test('a record whose instant is not one is refused, naming the field', () => {
    const transactions = builtin('transactions');
    const record = { id: 't1', customer_id: 'c1', amount: 12.5, currency: 'USD', status: 'paid', created_at: '2023-02-29T00:00:00.000000Z' };
    expect(validate(transactions, record)).toMatchObject({ ok: false, fields: ['created_at'] });
    expect(validate(transactions, { ...record, created_at: '2024-02-29T00:00:00.000000Z' })).toEqual({ ok: true });
  });
});
