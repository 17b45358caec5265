import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalCursor, canonicalInstant, canonicalLocal } from '../../src/sources/canonical-values.ts';

describe('canonical cursor text', () => {
  it('normalises driver text to fixed fraction digits', () => {
    expect(canonicalInstant('2024-01-02 03:04:05.12+00', 6)).toBe('2024-01-02T03:04:05.120000Z');
    expect(canonicalInstant('2024-01-02 03:04:05', 6)).toBe('2024-01-02T03:04:05.000000Z');
    expect(canonicalInstant('2024-01-01 01:30:00.1234567 +02:00', 7)).toBe('2023-12-31T23:30:00.1234567Z');
    expect(canonicalInstant('0099-03-01 00:00:00-05:30', 6)).toBe('0099-03-01T05:30:00.000000Z');
    expect(canonicalLocal('2024-01-02 03:04:05.123', 7)).toBe('2024-01-02 03:04:05.1230000');
    expect(canonicalLocal('2024-01-02T03:04:05.1234567', 7)).toBe('2024-01-02 03:04:05.1234567');
    expect(canonicalLocal('2024-01-02', 6)).toBe('2024-01-02 00:00:00.000000');
    expect(canonicalInstant('infinity', 6)).toBe('infinity');
  });

  it('reads what a UTC session prints (the fast path: PostgreSQL, MySQL, T and Z spellings) as the general parser does', () => {
    expect(canonicalInstant('2024-01-02 03:04:05+00', 6)).toBe('2024-01-02T03:04:05.000000Z');
    expect(canonicalInstant('2024-01-02 03:04:05.1234567+00', 6)).toBe('2024-01-02T03:04:05.1234567Z');
    const text = fc.tuple(fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }),
      fc.option(fc.stringMatching(/^[0-9]{1,7}$/), { nil: undefined }));
    fc.assert(fc.property(text, fc.integer({ min: 6, max: 7 }), ([date, fraction], digits) => {
      const wall = `${date.toISOString().slice(0, 19).replace('T', ' ')}${fraction === undefined ? '' : `.${fraction}`}`;
      // A space before the zone takes the general parser: the same meaning, read the other way.
      const general = canonicalInstant(`${wall} +00:00`, digits);
      for (const zone of ['+00', '+00:00', '+0000', 'Z', '']) {
        expect(canonicalInstant(`${wall}${zone}`, digits)).toBe(general);
        expect(canonicalInstant(`${wall.replace(' ', 'T')}${zone}`, digits)).toBe(general);
      }
      // Local text: with a T it takes the general parser.
      expect(canonicalLocal(wall, digits)).toBe(canonicalLocal(wall.replace(' ', 'T'), digits));
    }), { numRuns: 2000 });
  });

  it('keeps integers exact and refuses a JS Date as a cursor value', () => {
    expect(canonicalCursor('integer', '18446744073709551615', 6)).toBe('18446744073709551615');
    expect(canonicalCursor('integer', 42, 6)).toBe('42');
    expect(() => canonicalCursor('instant', new Date(), 6)).toThrow(expect.objectContaining({ code: 'RP_CURSOR_UNSUPPORTED' }));
  });

  it('orders text as the instants it names, whatever the offset it was read in', () => {
    const micros = fc.bigInt({ min: 0n, max: 4102444800000000n }); // 1970..2100 in microseconds since the epoch
    const offset = fc.integer({ min: -14 * 60, max: 14 * 60 });
    const text = (us: bigint, off: number) => {
      const local = new Date(Number(us / 1000n) + off * 60_000).toISOString().slice(0, 19).replace('T', ' ');
      const sign = off < 0 ? '-' : '+';
      const abs = Math.abs(off);
      return `${local}.${String(us % 1_000_000n).padStart(6, '0')}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
    };
    fc.assert(
      fc.property(micros, micros, offset, offset, (a, b, oa, ob) => {
        const ta = canonicalInstant(text(a, oa), 6);
        const tb = canonicalInstant(text(b, ob), 6);
        expect(ta < tb).toBe(a < b);
        expect(ta === tb).toBe(a === b);
      }),
    );
  });
});
