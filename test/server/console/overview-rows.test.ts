/**
 * The overview's pages: filter by state and tenant, every sort both ways, and keyset pages
 * that together list each matching stream exactly once, also when a stream changes state
 * between two pages; a cursor of another sort or a made-up one is refused.
 */
import { describe, expect, test } from 'vitest';
import type { StreamState, StreamStatus } from '../../../src/scheduler/stream-status.ts';
import { overviewPage, SORTS, STATES } from '../../../src/server/console/overview-rows.ts';

function status(i: number): StreamStatus {
  const state = STATES[i % STATES.length]!;
  return {
    tenant: `tenant-${String(i % 7).padStart(2, '0')}`, connector: `c${String(i).padStart(3, '0')}`, stream: i % 2 ? 'customers' : 'sales', state,
    lastRun: i % 5 === 0 ? null : { id: String(i), kind: 'pull', status: 'succeeded', startedAt: new Date(Date.UTC(2026, 0, 1, 0, i % 13)).toISOString(), endedAt: null, read: i, sent: i, unchanged: 0, rejected: i % 4 },
    watermark: null, lagSeconds: i % 3 === 0 ? null : (i * 37) % 500, lagObjectiveSeconds: 300, lagBreached: false, nextRun: null,
    lastError: null, parkedReason: null, unread: null, backfill: null,
  };
}
const ALL = Array.from({ length: 83 }, (_, i) => status(i));
const id = (s: StreamStatus) => `${s.connector}/${s.stream}`;

describe('overview rows', () => {
  for (const sort of SORTS) {
    for (const desc of [false, true]) {
      test(`sorted by ${sort} ${desc ? 'descending' : 'ascending'}: pages list every stream once, in order`, () => {
        const seen: StreamStatus[] = [];
        let cursor: string | undefined;
        do {
          const page = overviewPage(ALL, { sort, desc, limit: '10', cursor });
          expect(page.matching).toBe(ALL.length);
          seen.push(...page.rows);
          cursor = page.next;
        } while (cursor);
        expect(seen.map(id).sort()).toEqual(ALL.map(id).sort());
        expect(new Set(seen.map(id)).size).toBe(ALL.length);
        expect(seen.map(id)).toEqual(overviewPage(ALL, { sort, desc, limit: '1000' }).rows.map(id));
      });
    }
  }

  test('filters by state and by part of a tenant id, any case; counts every state', () => {
    const page = overviewPage(ALL, { sort: 'tenant', desc: false, state: 'failing', tenant: 'TENANT-03', limit: '1000' });
    expect(page.rows.length).toBeGreaterThan(0);
    expect(page.rows.every((s) => s.state === 'failing' && s.tenant === 'tenant-03')).toBe(true);
    expect(page.matching).toBe(ALL.filter((s) => s.state === 'failing' && s.tenant === 'tenant-03').length);
    expect(Object.values(page.counts).reduce((a, b) => a + b, 0)).toBe(ALL.length);
  });

  test('a stream that changes state between two pages neither repeats nor pushes another off', () => {
    const first = overviewPage(ALL, { sort: 'state', desc: false, limit: '20' });
    // A stream of the first page turns `ok` (later in the order) and one of a later page `failing` (earlier).
    const moved = ALL.map((s) => (id(s) === id(first.rows[0]!) ? { ...s, state: 'ok' as StreamState }
      : id(s) === id(ALL.at(-1)!) ? { ...s, state: 'failing' as StreamState } : s));
    const rest: StreamStatus[] = [];
    let cursor = first.next;
    while (cursor) {
      const page = overviewPage(moved, { sort: 'state', desc: false, limit: '20', cursor });
      rest.push(...page.rows);
      cursor = page.next;
    }
    const ids = [...first.rows, ...rest].map(id);
    expect(new Set(ids).size).toBe(ids.length - 1); // only the stream that moved behind the cursor shows twice
    for (const s of ALL.filter((x) => id(x) !== id(ALL.at(-1)!))) expect(ids).toContain(id(s));
  });

  test('refuses a cursor of another sort, or one made up', () => {
    const { next } = overviewPage(ALL, { sort: 'lag', desc: true, limit: '10' });
    expect(() => overviewPage(ALL, { sort: 'tenant', desc: true, limit: '10', cursor: next })).toThrow(/not a cursor of this list/);
    expect(() => overviewPage(ALL, { sort: 'lag', desc: false, limit: '10', cursor: next })).toThrow(/not a cursor of this list/);
    expect(() => overviewPage(ALL, { sort: 'lag', desc: true, limit: '10', cursor: 'bm9wZQ' })).toThrow(/cursor/);
    expect(() => overviewPage(ALL, { sort: 'lag', desc: true, limit: '0' })).toThrow(/limit/);
  });
});
