/**
 * Review rv17: the overview sorted by lag, descending, is how an operator finds the late
 * tenants. sortValue (overview-rows.ts) says "unknown lag last", but '~' sorts after every
 * number ascending and so before every number descending: streams that never ran fill the
 * first pages and the most-lagging stream is pushed behind them.
 */
import { describe, expect, test } from 'vitest';
import type { StreamStatus } from '../../../src/scheduler/stream-status.ts';
import { overviewPage } from '../../../src/server/console/overview-rows.ts';

function status(i: number, lagSeconds: number | null): StreamStatus {
  return {
    tenant: `tenant-${i}`, connector: `c${String(i).padStart(4, '0')}`, stream: 'customers', state: 'ok',
    lastRun: null, watermark: null, lagSeconds, lagObjectiveSeconds: 300, lagBreached: lagSeconds !== null && lagSeconds > 300, nextRun: null,
    lastError: null, parkedReason: null, unread: null, backfill: null,
  };
}

describe('overview sorted by lag (review rv17)', () => {
  test('descending: the most-lagging streams first, unknown lag last', () => {
    // 2,000 streams, 200 of them never run (lag unknown), one 9 days late.
    const all = Array.from({ length: 2000 }, (_, i) => status(i, i % 10 === 0 ? null : i === 1999 ? 9 * 86400 : i));
    const first = overviewPage(all, { sort: 'lag', desc: true });
    expect(first.rows[0]!.lagSeconds, 'the first row of "lag, descending"').toBe(9 * 86400);
    expect(first.rows.every((r) => r.lagSeconds !== null)).toBe(true);
  });
});
