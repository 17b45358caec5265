/**
 * Keyset paging for every list the CLI and the ops API answer (runs, rejects, backfills): a
 * page is at most `limit` rows in a stable order ending on a unique key, and its `next`
 * cursor names the last row's key, so the next page starts strictly after it. Never OFFSET:
 * rows written meanwhile neither shift a page nor repeat a row. The cursor is opaque to
 * users (base64url of the list's name and the key) and checked on the way back in.
 */
import { PullerError } from '../errors.ts';

export const PAGE_LIMIT_DEFAULT = 100;
export const PAGE_LIMIT_MAX = 1000;

/** A list that pages: its name (a cursor of one list is refused by another) and its key's parts. */
export interface KeysetList {
  name: string;
  /** One check per part of the key, in sort order; the last part is unique. */
  key: readonly ((part: string) => boolean)[];
}

/** A decoded page request: how many rows, and the key of the last row already seen. */
export interface PageRequest {
  limit: number;
  after?: string[];
}

/** One page: `next` is absent on the last page. */
export interface Page<T> {
  items: T[];
  next?: string;
}

/** How the caller names the two parameters, for errors: CLI flags or query parameters. */
export interface PageParameterNames {
  limit: string;
  cursor: string;
}

export const CLI_PAGE_PARAMETERS: PageParameterNames = { limit: '--limit', cursor: '--after' };
export const API_PAGE_PARAMETERS: PageParameterNames = { limit: 'limit', cursor: 'cursor' };

// A bigint id: 19 digits can exceed its range, which the store would answer with an error.
const ID = (part: string) => /^[0-9]{1,19}$/.test(part) && BigInt(part) <= 9223372036854775807n;
const STREAM_NAME = (part: string) => /^[A-Za-z_][A-Za-z0-9_$]{0,127}$/.test(part);
export const RUNS_LIST: KeysetList = { name: 'runs', key: [ID] };
export const BACKFILLS_LIST: KeysetList = { name: 'backfills', key: [ID] };
export const REJECTS_LIST: KeysetList = { name: 'rejects', key: [STREAM_NAME, ID] };

/** Validates a limit and a cursor as the user gave them; RP_CONFIG_INVALID names the bad one. */
export function pageRequest(list: KeysetList, raw: { limit?: unknown; cursor?: unknown }, names: PageParameterNames): PageRequest {
  const limit = raw.limit === undefined ? PAGE_LIMIT_DEFAULT : parseLimit(raw.limit, names.limit);
  if (raw.cursor === undefined) return { limit };
  const after = decodeCursor(list, raw.cursor);
  if (!after) {
    throw new PullerError('RP_CONFIG_INVALID',
      `${names.cursor} is not a cursor of this list (${list.name}); pass the "next" value of the previous page unchanged, or leave ${names.cursor} out to start from the first page`);
  }
  return { limit, after };
}

function parseLimit(raw: unknown, name: string): number {
  const text = String(raw).trim();
  const n = /^[0-9]{1,7}$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > PAGE_LIMIT_MAX) {
    throw new PullerError('RP_CONFIG_INVALID', `${name} must be an integer from 1 to ${PAGE_LIMIT_MAX}, not "${text.slice(0, 40)}"`);
  }
  return n;
}

/** The cursor that names a row's key in a list. */
export function encodeCursor(list: KeysetList, key: string[]): string {
  return Buffer.from(JSON.stringify([list.name, ...key]), 'utf8').toString('base64url');
}

function decodeCursor(list: KeysetList, raw: unknown): string[] | undefined {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 2048 || !/^[A-Za-z0-9_-]+$/.test(raw)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || parsed[0] !== list.name || parsed.length !== list.key.length + 1) return undefined;
  const key = parsed.slice(1);
  return key.every((part, i) => typeof part === 'string' && list.key[i]!(part)) ? (key as string[]) : undefined;
}

/**
 * The page out of rows read with `limit + 1`: the extra row only says that there is more,
 * and the next page starts after the last row shown.
 */
export function pageOf<R>(list: KeysetList, rows: R[], limit: number, keyOf: (row: R) => string[]): Page<R> {
  const items = rows.slice(0, limit);
  const page: Page<R> = { items };
  if (rows.length > limit && items.length > 0) page.next = encodeCursor(list, keyOf(items.at(-1)!));
  return page;
}
