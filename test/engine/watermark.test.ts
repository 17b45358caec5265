import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  compareCursor, comparePosition, futureBound, localToUtc, lookbackStart, nextWatermark, settleCeiling, versionKey,
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

  it('keeps a whole grain back for coarse cursors: a DATE day or a DATETIME second still open is not read', () => {
    const day = 864_000_000_000n;
    // 10:00 minus 2 minutes is still 30 November: only 29 November and before are closed.
    const dateCeiling = settleCeiling('local', '2026-11-30T10:00:00.000000Z', 120, 'UTC', day)!;
    expect(dateCeiling).toBe('2026-11-29 09:58:00.000001');
    expect('2026-11-29 00:00:00.000000' <= dateCeiling).toBe(true);
    expect('2026-11-30 00:00:00.000000' <= dateCeiling).toBe(false);
    // In the partner's zone: 30 November 00:30 in Auckland is still 29 November 11:30 UTC.
    expect(settleCeiling('local', '2026-11-29T11:30:00.000000Z', 0, 'Pacific/Auckland', day)).toBe('2026-11-29 00:30:00.000001');
    // DATETIME(0): the second 10:00:05 can still receive rows (stamped 10:00:05.9, truncated).
    const second = settleCeiling('local', '2026-11-30T10:00:05.123000Z', 0, 'UTC', 10_000_000n)!;
    expect('2026-11-30 10:00:04.000000' <= second).toBe(true);
    expect('2026-11-30 10:00:05.000000' <= second).toBe(false);
  });

  it('holds a wall-clock ceiling below the hour a fall-back repeats, in both passes of it', () => {
    // Berlin, 27 October 2024: 03:00 CEST (01:00Z) becomes 02:00 CET; 02:00-03:00 comes twice.
    const at = (utc: string) => settleCeiling('local', utc, 0, 'Europe/Berlin');
    expect(at('2024-10-26T23:30:00.000000Z')).toBe('2024-10-27 01:30:00.000000');
    expect(at('2024-10-27T00:30:00.000000Z')).toBe('2024-10-27 01:59:59.999999');
    expect(at('2024-10-27T01:30:00.000000Z')).toBe('2024-10-27 01:59:59.999999');
    expect(at('2024-10-27T02:00:00.000000Z')).toBe('2024-10-27 03:00:00.000000');
  });

  it('never steps back while the clock moves forward, across daylight-saving changes, in any zone', () => {
    const zones = ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Pacific/Chatham', 'America/Santiago'];
    fc.assert(fc.property(fc.constantFrom(...zones), fc.integer({ min: 0, max: 3 * 365 * 24 * 60 }), fc.integer({ min: 1, max: 600 }), (zone, minute, step) => {
      const t0 = Date.UTC(2024, 0, 1) + minute * 60_000;
      const text = (ms: number) => `${new Date(ms).toISOString().slice(0, 19)}.000000Z`;
      return settleCeiling('local', text(t0), 30, zone)! <= settleCeiling('local', text(t0 + step * 60_000), 30, zone)!;
    }), { numRuns: 2_000 });
    // Swept minute by minute across the Berlin and New York fall-backs.
    for (const [zone, start] of [['Europe/Berlin', Date.UTC(2024, 9, 26, 22)], ['America/New_York', Date.UTC(2024, 10, 3, 4)]] as const) {
      let previous = '';
      for (let m = 0; m < 5 * 60; m++) {
        const ceiling = settleCeiling('local', `${new Date(start + m * 60_000).toISOString().slice(0, 19)}.000000Z`, 0, zone)!;
        expect(ceiling >= previous).toBe(true);
        previous = ceiling;
      }
    }
  });
});

describe('futureBound', () => {
  it('is the partner clock plus the settle window, in the cursor\'s zone', () => {
    expect(futureBound('instant', '2026-11-30T10:00:00.000000Z', 120, 'UTC')).toBe('2026-11-30T10:02:00.000000Z');
    expect(futureBound('local', '2026-11-30T10:00:00.000000Z', 120, 'Europe/Berlin')).toBe('2026-11-30 11:02:00.000000');
    expect(futureBound('integer', '2026-11-30T10:00:00.000000Z', 120, 'UTC')).toBeUndefined();
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
    expect(lookbackStart('instant', { cursor: '2024-01-01T01:00:00.000000Z', key: ['4'] }, 600))
      .toEqual({ cursor: '2024-01-01T00:50:00.000000Z', key: [] });
    expect(lookbackStart('local', { cursor: '2024-01-01 01:00:00.000000', key: ['4'] }, 600))
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
