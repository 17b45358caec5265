/**
 * The overview's rows: every stream's status, filtered by state and tenant, sorted, and cut
 * into pages by keyset (store/keyset-page.ts) on (sort value, connector, stream), so a stream
 * that changes state between two pages neither repeats nor pushes another off a page. The
 * cursor names its sort: one from another sort is refused.
 */
import type { StreamState, StreamStatus } from '../../scheduler/stream-status.ts';
import { encodeCursor, pageRequest, type KeysetList } from '../../store/keyset-page.ts';

export const SORTS = ['tenant', 'state', 'lag', 'last-run', 'rejected'] as const;
export type OverviewSort = (typeof SORTS)[number];
export const STATES: readonly StreamState[] = ['failing', 'parked', 'running', 'backfilling', 'ok', 'disabled'];

export interface OverviewQuery {
  state?: StreamState;
  /** Part of a tenant id, any case. */
  tenant?: string;
  sort: OverviewSort;
  desc: boolean;
  limit?: string;
  cursor?: string;
}

export interface OverviewPage {
  rows: StreamStatus[];
  next?: string;
  /** Streams that match the filter, over every page. */
  matching: number;
  /** Streams per state, over every stream (the filter's choices). */
  counts: Record<StreamState, number>;
}

export const OVERVIEW_PAGE_DEFAULT = 50;
const CONNECTOR = (p: string) => /^[a-z0-9][a-z0-9_-]{0,127}$/.test(p);
const STREAM = (p: string) => /^[A-Za-z_][A-Za-z0-9_$]{0,127}$/.test(p);
const SORT_VALUE = (p: string) => p.length <= 300;

/**
 * A stream's sort value as text that orders correctly by code point (numbers padded). Unknown
 * lag goes last either way: after every number ascending ('~'), before every one ('') when
 * the order is reversed for descending.
 */
function sortValue(s: StreamStatus, sort: OverviewSort, desc: boolean): string {
  switch (sort) {
    case 'tenant': return s.tenant;
    case 'state': return String(STATES.indexOf(s.state));
    case 'lag': return s.lagSeconds === null ? (desc ? '' : '~') : String(s.lagSeconds).padStart(12, '0');
    case 'last-run': return s.lastRun?.startedAt ?? '';
    case 'rejected': return String(s.lastRun?.rejected ?? 0).padStart(12, '0');
  }
}

const compareKeys = (a: string[], b: string[]) => {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return 0;
};

/** One page of the overview. */
export function overviewPage(statuses: StreamStatus[], query: OverviewQuery): OverviewPage {
  const list: KeysetList = { name: `overview-${query.sort}-${query.desc ? 'desc' : 'asc'}`, key: [SORT_VALUE, CONNECTOR, STREAM] };
  const page = pageRequest(list, { limit: query.limit ?? String(OVERVIEW_PAGE_DEFAULT), cursor: query.cursor }, { limit: 'limit', cursor: 'cursor' });
  const counts = Object.fromEntries(STATES.map((s) => [s, 0])) as Record<StreamState, number>;
  for (const s of statuses) counts[s.state]++;
  const needle = query.tenant?.trim().toLowerCase();
  const sign = query.desc ? -1 : 1;
  const keyOf = (s: StreamStatus) => [sortValue(s, query.sort, query.desc), s.connector, s.stream];
  const matching = statuses.filter((s) => (!query.state || s.state === query.state) && (!needle || s.tenant.toLowerCase().includes(needle)))
    .map((s) => ({ s, key: keyOf(s) }))
    // Ties on the sort value fall back to connector and stream, in the same direction: the key stays unique.
    .sort((a, b) => sign * compareKeys(a.key, b.key));
  const start = page.after ? matching.findIndex((m) => sign * compareKeys(m.key, page.after!) > 0) : 0;
  const rest = start === -1 ? [] : matching.slice(start);
  const rows = rest.slice(0, page.limit);
  const next = rest.length > page.limit ? encodeCursor(list, rows.at(-1)!.key) : undefined;
  return { rows: rows.map((m) => m.s), next, matching: matching.length, counts };
}
