import { describe, expect, it } from 'vitest';
import { parseBound, planChunks, predecessor, rangeShare, splitPoints } from '../../src/backfill/chunk-plan.ts';
import { rateAndEta } from '../../src/backfill/backfill-progress.ts';
import { RateLimiter } from '../../src/backfill/rate-limiter.ts';

describe('chunk plan', () => {
  it('steps back one unit of the database precision', () => {
    expect(predecessor('integer', '0')).toBe('-1');
    expect(predecessor('integer', '9223372036854775808')).toBe('9223372036854775807');
    expect(predecessor('instant', '2024-01-01T00:00:00.000000Z')).toBe('2023-12-31T23:59:59.999999Z');
    expect(predecessor('local', '2024-03-01 00:00:00.000000')).toBe('2024-02-29 23:59:59.999999');
    expect(predecessor('instant', '2024-01-01T00:00:00.0000000Z')).toBe('2023-12-31T23:59:59.9999999Z');
    expect(predecessor('local', '1969-12-31 23:59:59.000000')).toBe('1969-12-31 23:59:58.999999');
  });

  it('splits a range evenly, and fewer times when it is too narrow', () => {
    expect(splitPoints('integer', '0', '100', 4)).toEqual(['25', '50', '75']);
    expect(splitPoints('integer', '1', '3', 10)).toEqual(['1', '2']);
    expect(splitPoints('integer', '5', '5', 4)).toEqual([]);
    expect(splitPoints('local', '2024-01-01 00:00:00.000000', '2024-01-01 00:00:40.000000', 4))
      .toEqual(['2024-01-01 00:00:10.000000', '2024-01-01 00:00:20.000000', '2024-01-01 00:00:30.000000']);
    expect(splitPoints('instant', '1969-12-31T23:59:59.000000Z', '1970-01-01T00:00:01.000000Z', 2)).toEqual(['1970-01-01T00:00:00.000000Z']);
  });

  it('chains chunks on shared boundaries: lower exclusive, upper inclusive, first lower just below from', () => {
    expect(planChunks('integer', { from: '10', to: '40', min: '1', max: '99' }, 3)).toEqual([
      { lower: '9', upper: '20' }, { lower: '20', upper: '30' }, { lower: '30', upper: '40' },
    ]);
    // Without bounds the outer ends stay open: rows beyond min..max (changed since) are still covered.
    expect(planChunks('integer', { min: '0', max: '100' }, 2)).toEqual([{ lower: undefined, upper: '50' }, { lower: '50', upper: undefined }]);
    expect(planChunks('integer', {}, 4)).toEqual([{ lower: undefined, upper: undefined }]);
  });

  it('ends the last chunk at the seed without --to, and splits the view\'s rows (min..max), not the time up to the seed', () => {
    // A week of history backfilled years later: every chunk gets its share of the rows, the last ends at the seed.
    const range = { min: '2024-01-01T00:00:00.000000Z', max: '2024-01-07T00:00:00.000000Z', end: '2026-12-01T00:00:00.000000Z' };
    expect(planChunks('instant', range, 3)).toEqual([
      { lower: undefined, upper: '2024-01-03T00:00:00.000000Z' },
      { lower: '2024-01-03T00:00:00.000000Z', upper: '2024-01-05T00:00:00.000000Z' },
      { lower: '2024-01-05T00:00:00.000000Z', upper: '2026-12-01T00:00:00.000000Z' },
    ]);
    expect(planChunks('integer', { min: '0', max: '100', to: '80', end: '120' }, 2)).toEqual([{ lower: undefined, upper: '40' }, { lower: '40', upper: '80' }]);
  });

  it('reads --from/--to as canonical cursor text of the stream kind', () => {
    expect(parseBound('instant', '--from', '2024-01-01', 6)).toBe('2024-01-01T00:00:00.000000Z');
    expect(parseBound('instant', '--from', '2024-01-01T10:00:00+02:00', 6)).toBe('2024-01-01T08:00:00.000000Z');
    expect(parseBound('local', '--to', '2024-01-01 10:30', 6)).toBe('2024-01-01 10:30:00.000000');
    expect(parseBound('integer', '--from', ' 0042 ', 6)).toBe('42');
    expect(() => parseBound('integer', '--from', '2024-01-01', 6)).toThrow(/not an integer/);
    expect(() => parseBound('instant', '--to', 'yesterday', 6)).toThrow(/not a date or time/);
  });

  it('estimates the share of rows in a sub-range', () => {
    expect(rangeShare('integer', { from: '25', to: '75', min: '0', max: '100' })).toBe(0.5);
    expect(rangeShare('integer', { from: '200', min: '0', max: '100' })).toBe(0);
    expect(rangeShare('integer', { min: '7', max: '7' })).toBe(1);
  });
});

describe('rate and ETA', () => {
  it('measures the current run only', () => {
    expect(rateAndEta(3000, 1000, 11_000, 2)).toEqual({ rowsPerSecond: 1000, etaSeconds: 8 });
    expect(rateAndEta(0, 0, 100, 0)).toEqual({ rowsPerSecond: 0, etaSeconds: undefined });
  });

  it('paces takes so that rows stay under the rate plus one page', async () => {
    const limiter = new RateLimiter(2000);
    const started = performance.now();
    for (let i = 0; i < 5; i++) await limiter.take(100);
    // 500 rows at 2000/s: the last page may start after 400 ms.
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
  });
});
