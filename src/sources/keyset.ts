/**
 * The keyset page query shared by every dialect: rows strictly after a (cursor, key...)
 * position, up to a ceiling, in (cursor, key...) order. Paging on the full tuple means a
 * tie of any size at a page boundary is neither lost nor re-read.
 * Identifiers are always quoted by knex (`??`); filter and cursor values are always bound.
 */
import type { Knex } from 'knex';
import type { Position } from '../interfaces.ts';
import type { PageRequest, ReadSpec } from './source.ts';
import type { SourceDialect } from './source-dialect.ts';

/** Alias of the selected cursor expression; stripped from the rows handed on. */
export const CURSOR_ALIAS = '__rp_cursor';

/** The cursor expression: the column, or COALESCE(column, fallback). */
export function cursorExpression(knex: Knex, spec: ReadSpec): Knex.Raw {
  return spec.cursorFallback ? knex.raw('COALESCE(??, ??)', [spec.cursor, spec.cursorFallback]) : knex.raw('??', [spec.cursor]);
}

function whereFilter(query: Knex.QueryBuilder, spec: ReadSpec): Knex.QueryBuilder {
  for (const [column, value] of Object.entries(spec.filter)) query.where(column, value);
  return query;
}

/**
 * `(c > c0) OR (c = c0 AND k1 > v1) OR (c = c0 AND k1 = v1 AND k2 > v2) ...`: the
 * lexicographic "after" on (cursor, key...). NULL cursors fail every comparison.
 */
function whereAfter(knex: Knex, dialect: SourceDialect, query: Knex.QueryBuilder, spec: ReadSpec, after: Position): void {
  const cursor = cursorExpression(knex, spec);
  const bound = dialect.bindCursor(knex, after.cursor, spec);
  // No key (a lookback start, a reset `--to`): before every key at that cursor, so the cursor value itself is read.
  if (after.key.length === 0) {
    query.where(cursor, '>=', bound);
    return;
  }
  if (after.key.length !== spec.primaryKey.length) {
    throw new Error(`A position has ${after.key.length} key values; the stream's primary key has ${spec.primaryKey.length} columns.`);
  }
  // Redundant for the result, but it bounds the index range: without it a planner may scan
  // from the view's first row and filter up to the position, on every page.
  query.where(cursor, '>=', bound);
  query.where((outer) => {
    outer.where(cursor, '>', bound);
    spec.primaryKey.forEach((column, i) => {
      outer.orWhere((tie) => {
        tie.where(cursor, '=', bound);
        for (let j = 0; j < i; j++) tie.where(spec.primaryKey[j]!, '=', keyValue(spec, j, after.key[j]!));
        tie.where(column, '>', keyValue(spec, i, after.key[i]!));
      });
    });
  });
}

/** The ordered keyset query; without `limit` it reads to the end (a streamed scan). */
export function keysetQuery(
  knex: Knex,
  dialect: SourceDialect,
  spec: ReadSpec,
  request: Omit<PageRequest, 'limit'> & { limit?: number },
): Knex.QueryBuilder {
  const cursor = cursorExpression(knex, spec);
  const query = selectRows(knex, dialect, spec);
  // A row with a NULL key has no position (and would sort differently per dialect): it is counted, not read.
  for (const column of spec.primaryKey) query.whereNotNull(column);
  if (request.after) whereAfter(knex, dialect, query, spec, request.after);
  if (request.upTo !== undefined) query.where(cursor, '<=', dialect.bindCursor(knex, request.upTo, spec));
  if (!request.after && request.upTo === undefined) query.whereRaw('? is not null', [cursor]);
  orderByPosition(knex, query, spec);
  if (request.limit !== undefined) query.limit(request.limit);
  return query;
}

/**
 * The rows whose primary key is one of `keys` (text values, bound), within the filter, in
 * (cursor, key) order: re-reading quarantined rows. Rows whose cursor is NULL have no
 * position and are left out, as a pull leaves them out.
 */
export function keyLookupQuery(knex: Knex, dialect: SourceDialect, spec: ReadSpec, keys: readonly string[][]): Knex.QueryBuilder {
  const query = selectRows(knex, dialect, spec).whereRaw('? is not null', [cursorExpression(knex, spec)]);
  query.where((any) => {
    for (const key of keys) any.orWhere((one) => spec.primaryKey.forEach((column, i) => one.where(column, '=', keyValue(spec, i, key[i]!))));
  });
  return orderByPosition(knex, query, spec);
}

/** A key value of a position as the driver binds it: bytes for a binary key column, else its text. */
function keyValue(spec: ReadSpec, i: number, text: string): string | Buffer {
  return spec.binaryKeys?.[i] ? Buffer.from(text.replace(/^\\x/, ''), 'hex') : text;
}

/** A key value read from a row as position text: bytes as `\\x` + hex (which sorts like the bytes), the rest as text. */
export function keyText(value: unknown): string {
  return value instanceof Uint8Array ? `\\x${Buffer.from(value).toString('hex')}` : String(value);
}

/** The stream's columns plus the cursor expression as CURSOR_ALIAS, within the filter. */
function selectRows(knex: Knex, dialect: SourceDialect, spec: ReadSpec): Knex.QueryBuilder {
  const cursor = cursorExpression(knex, spec);
  const query = knex(spec.view).select([...spec.columns, knex.raw('? as ??', [dialect.selectCursor(knex, cursor, spec), CURSOR_ALIAS])]);
  return whereFilter(query, spec);
}

function orderByPosition(knex: Knex, query: Knex.QueryBuilder, spec: ReadSpec): Knex.QueryBuilder {
  return query.orderByRaw(['? asc', ...spec.primaryKey.map(() => '?? asc')].join(', '), [cursorExpression(knex, spec), ...spec.primaryKey]);
}

/** Counts the rows a keyset read never returns: `null_cursor` (cursor expression NULL) and `null_key` (a key column NULL). */
export function unpositionedQuery(knex: Knex, spec: ReadSpec): Knex.QueryBuilder {
  const cursor = cursorExpression(knex, spec);
  const anyKeyNull = spec.primaryKey.map(() => '?? is null').join(' or ');
  return whereFilter(knex(spec.view).select(
    knex.raw('count(case when ? is null then 1 end) as ??', [cursor, 'null_cursor']),
    knex.raw(`count(case when ? is not null and (${anyKeyNull}) then 1 end) as ??`, [cursor, ...spec.primaryKey, 'null_key']),
  ), spec).where((q) => {
    q.whereRaw('? is null', [cursor]);
    for (const column of spec.primaryKey) q.orWhereNull(column);
  });
}

/** Counts the rows within the filter whose cursor is after `bound`. */
export function afterCursorQuery(knex: Knex, dialect: SourceDialect, spec: ReadSpec, bound: string): Knex.QueryBuilder {
  return whereFilter(knex(spec.view).count({ n: '*' }), spec).where(cursorExpression(knex, spec), '>', dialect.bindCursor(knex, bound, spec));
}

/**
 * `n` rows within the filter that have a cursor, and `hi` the largest cursor, selected as the
 * dialect returns cursors so it reads back as canonical text (a rowversion's bytes as a number).
 */
export function cursorStatsQuery(knex: Knex, dialect: SourceDialect, spec: ReadSpec): Knex.QueryBuilder {
  const cursor = cursorExpression(knex, spec);
  return whereFilter(knex(spec.view).select(
    knex.raw('count(?) as ??', [cursor, 'n']),
    knex.raw('? as ??', [dialect.selectCursor(knex, knex.raw('max(?)', [cursor]), spec), 'hi']),
  ), spec);
}
