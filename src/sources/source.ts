/**
 * The one interface every partner database dialect implements.
 * A Source never writes: every session it opens is read-only at the session level.
 */
import type { CursorKind, CursorValue, Dialect, Position, SourceRow } from '../interfaces.ts';

/** A view column as the database describes it. */
export interface ColumnInfo {
  name: string;
  /** The database's own type name, lower case (`timestamp with time zone`, `datetime`, `bigint`). */
  dataType: string;
  /** Fraction digits a time column keeps (`datetime_precision`); null when the database gives none. */
  precision: number | null;
}

/** What a page read needs to know about the stream. */
export interface ReadSpec {
  /** `schema.view` or `view`. */
  view: string;
  /** Columns to select (mapped columns + cursor + key + delete column), each exactly once. */
  columns: string[];
  primaryKey: string[];
  cursor: string;
  /** When set, the cursor expression is COALESCE(cursor, fallback). */
  cursorFallback?: string;
  cursorKind: CursorKind;
  /**
   * The cursor column's `ColumnInfo.dataType`, where the kind alone cannot say how to bind
   * a value exactly (SQL Server rowversion, datetime's 1/300 s ticks).
   */
  cursorType?: string;
  /** Equality filters, always bound as parameters. */
  filter: Record<string, string | number | boolean>;
  /** Key columns holding bytes (bytea, BINARY): positions keep them as `\\x` + hex, bound back as bytes. */
  binaryKeys?: readonly boolean[];
}

/** A bounded read in (cursor, key) order. */
export interface PageRequest {
  /** Read strictly after this position; absent = from the beginning. */
  after?: Position;
  /** Read only rows with cursor <= this (the settle ceiling, or a backfill chunk's end). */
  upTo?: CursorValue;
  limit: number;
}

/** A page of rows with each row's position, in (cursor, key) order. */
export interface Page {
  rows: SourceRow[];
  positions: Position[];
}

/** Rows a keyset read never returns, because they have no position. */
export interface Unpositioned {
  /** The cursor (and its fallback) is NULL. */
  nullCursor: number;
  /** The cursor is set but a primary-key column is NULL. */
  nullKey: number;
}

/** Facts read inside one read-only transaction, alongside a page. */
export interface ReadSession {
  /**
   * The partner database's clock in UTC, as `YYYY-MM-DDTHH:MM:SS.ffffffZ`, read just before
   * this transaction's snapshot: a row committed after the snapshot has a cursor past any
   * ceiling drawn from it (given the settle window).
   */
  clockUtc(): Promise<string>;
  /**
   * For a counter cursor the database assigns (SQL Server's rowversion), the largest value
   * every transaction holding a value at or below it has committed, read with the clock;
   * undefined for every other cursor. A read that stops there never passes a row a
   * transaction still open will commit later.
   */
  committedCeiling(spec: ReadSpec): Promise<CursorValue | undefined>;
  /** Rows within the filter that have a cursor, and the largest cursor (for a backfill's plan). */
  cursorStats(spec: ReadSpec): Promise<{ rows: number; max?: CursorValue }>;
  /** Reads one keyset page. */
  readPage(spec: ReadSpec, request: PageRequest): Promise<Page>;
  /** Counts the rows within the filter that have no position. */
  countUnpositioned(spec: ReadSpec): Promise<Unpositioned>;
  /** Counts the rows within the filter whose cursor is after `bound`. */
  countAfter(spec: ReadSpec, bound: CursorValue): Promise<number>;
  /** Runs one statement inside this read-only transaction (the `test` command's sample; tests). */
  raw(sql: string, bindings?: readonly unknown[]): Promise<SourceRow[]>;
  /** Reads the rows with these primary keys (text values) within the filter, in (cursor, key) order. */
  readKeys(spec: ReadSpec, keys: readonly string[][]): Promise<Page>;
  /** Streams rows in (cursor, key) order within (after, upTo], for backfills. */
  scan(spec: ReadSpec, request: Omit<PageRequest, 'limit'>, options: { chunkSize: number; signal?: AbortSignal }): AsyncIterable<Page>;
}

/** What `reach-puller test` reports about the credential. */
export interface PrivilegeReport {
  /** Privileges beyond SELECT that the user holds (INSERT, UPDATE, DDL, admin...). */
  writePrivileges: string[];
}

/** A partner database dialect. */
export interface Source {
  readonly dialect: Dialect;
  /** Columns of a view, or an error naming the view when it does not exist or cannot be read. */
  describeView(view: string): Promise<ColumnInfo[]>;
  /** How a cursor column of this database type compares; throws RP_CURSOR_UNSUPPORTED otherwise. */
  cursorKind(column: ColumnInfo): CursorKind;
  /** The smallest step between a time cursor column's values, in 100 ns ticks (a day for DATE, a second for DATETIME(0)). */
  cursorGrain(column: ColumnInfo): bigint;
  /** Whether a column holds bytes (bytea, BINARY, varbinary). */
  isBinary(column: ColumnInfo): boolean;
  /** Runs `fn` inside one read-only transaction with a statement timeout. */
  withReadSession<T>(fn: (session: ReadSession) => Promise<T>): Promise<T>;
  /** Privileges of the connected user beyond reading. */
  inspectPrivileges(): Promise<PrivilegeReport>;
  /** The SQL text and bindings of a page read, for tests and `--explain`. */
  compilePage(spec: ReadSpec, request: PageRequest): { sql: string; bindings: unknown[] };
  /**
   * Ends the idle connections of the shared pool, before a slot of the source is given back
   * (store/source-slots.ts) by work that goes on reading (a backfill's chunk ends).
   */
  closeIdle(): Promise<void>;
  /** Releases this connector's hold on the shared pool. */
  close(): Promise<void>;
}
