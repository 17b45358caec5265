import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  compareCursor, comparePosition, localToUtc, lookbackStart, nextWatermark, settleCeiling, versionKey,
} from '../../src/engine/watermark.ts';

describe('nextWatermark', () => {
  const p = (cursor: string, ...key: string[]) => ({ cursor, key });

  it('moves to the last position of a confirmed page', () => {
    expect(nextWatermark('instant', p('2024-01-01T00:00:00.000000Z', '1'), [
      p('2024-01-01T00:00:00.000000Z', '2'), p('2024-01-01T00:00:00.000001Z', '1'),
    ])).toEqual(p('2024-01-01T00:00:00.000001Z', '1'));
  });

  it('stays put after an empty page (never advances on an empty read)', () => {
    const current = p('2024-01-01T00:00:00.000000Z', '7');
    expect(nextWatermark('instant', current, [])).toBe(current);
    expect(nextWatermark('instant', undefined, [])).toBeUndefined();
  });

  it('never moves back when a lookback page ends before the watermark', () => {
    const current = p('2024-01-02 00:00:00.000000', '9');
    expect(nextWatermark('local', current, [p('2024-01-01 23:59:00.000000', '1')])).toBe(current);
  });

  it('refuses a page whose cursor goes backwards', () => {
    expect(() => nextWatermark('integer', undefined, [p('10', 'a'), p('9', 'b')])).toThrow(/back to 9/);
  });

  it('compares bigint cursors beyond 2^53 exactly', () => {
    expect(compareCursor('integer', '9007199254740993', '9007199254740992')).toBe(1);
    expect(nextWatermark('integer', p('9007199254740992', '1'), [p('9007199254740993', '1')])!.cursor).toBe('9007199254740993');
  });

  it('orders integer keys numerically within a tie', () => {
    expect(comparePosition('integer', p('5', '10'), p('5', '9'))).toBe(1);
    expect(comparePosition('integer', p('5', 'b'), p('5', 'a'))).toBe(1);
  });
});

describe('settleCeiling', () => {
  it('subtracts the window from the partner clock keeping microseconds', () => {
    expect(settleCeiling('instant', '2024-03-10T10:00:00.123456Z', 120, 'UTC')).toBe('2024-03-10T09:58:00.123456Z');
  });

  it('keeps SQL Server 100 ns digits', () => {
    expect(settleCeiling('instant', '2024-03-10T10:00:00.1234567Z', 1, 'UTC')).toBe('2024-03-10T09:59:59.1234567Z');
  });

  it('renders the ceiling as wall time in the source zone for local cursors, across DST', () => {
    // 2024-03-10 is the US spring-forward day: 07:30Z is 03:30 EDT, 06:30Z is 01:30 EST.
    expect(settleCeiling('local', '2024-03-10T07:30:00.000001Z', 0, 'America/New_York')).toBe('2024-03-10 03:30:00.000001');
    expect(settleCeiling('local', '2024-03-10T07:30:00.000001Z', 3600, 'America/New_York')).toBe('2024-03-10 01:30:00.000001');
  });

  it('gives integer cursors no ceiling', () => {
    expect(settleCeiling('integer', '2024-03-10T07:30:00.000000Z', 120, 'UTC')).toBeUndefined();
  });

  it('does not depend on the process time zone', () => {
    const before = process.env.TZ;
    process.env.TZ = 'America/Los_Angeles';
    try {
      expect(settleCeiling('local', '2024-07-01T12:00:00.000000Z', 60, 'Europe/Berlin')).toBe('2024-07-01 13:59:00.000000');
      expect(localToUtc('2024-07-01 14:00:00.250000', 'Europe/Berlin')).toBe('2024-07-01T12:00:00.250000Z');
    } finally {
      process.env.TZ = before;
    }
  });
});

describe('lookbackStart', () => {
  it('starts a lookback window before the watermark, before any key', () => {
    expect(lookbackStart('instant', { cursor: '2024-01-01T01:00:00.000000Z', key: ['4'] }, 600, 'UTC'))
      .toEqual({ cursor: '2024-01-01T00:50:00.000000Z', key: [] });
    expect(lookbackStart('local', { cursor: '2024-01-01 01:00:00.000000', key: ['4'] }, 600, 'Asia/Kolkata'))
      .toEqual({ cursor: '2024-01-01 00:50:00.000000', key: [] });
  });
});

describe('versionKey', () => {
  it('sorts like the integer value, negatives and bigints included', () => {
    fc.assert(fc.property(fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }), fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }), (a, b) => {
      const ka = versionKey('integer', a.toString());
      const kb = versionKey('integer', b.toString());
      return Math.sign(Number(a - b)) === (ka < kb ? -1 : ka > kb ? 1 : 0);
    }));
  });
});
