/**
 * What one partner database dialect contributes to the shared SqlSource. Every database
 * difference lives behind this interface (one implementation per dialect folder), so the
 * session, keyset and pool code never asks which dialect it runs on.
 */
import type { Knex } from 'knex';
import type { CursorKind, CursorValue, Dialect, SourceRow } from '../interfaces.ts';
import type { ConnectionSettings } from './connection-settings.ts';
import type { ReadSpec } from './source.ts';

/** SQL text with `?` value placeholders (`??` for identifiers) and its bindings. */
export interface SqlFragment {
  sql: string;
  bindings: readonly Knex.RawBinding[];
}

export interface SourceDialect {
  readonly dialect: Dialect;
  /** Fraction digits of canonical time values: 6, SQL Server 7. */
  readonly fractionDigits: number;
  /** information_schema type name (lower case) -> how a cursor of that type compares. */
  readonly cursorKinds: Readonly<Record<string, CursorKind>>;
  /** Column types (lower case) whose values are bytes: a key of one of them is positioned as hex. */
  readonly binaryTypes: ReadonlySet<string>;
  /** Time types whose values step by a fixed grain (100 ns ticks) whatever their precision says: DATE, smalldatetime. */
  readonly fixedGrains: Readonly<Record<string, bigint>>;
  /** knex config for the shared pool: read-only, UTC session, lossless value parsing, TLS. */
  knexConfig(settings: ConnectionSettings): Knex.Config;
  /** Statements that open the read-only transaction of a read session, in order. */
  beginStatements(settings: ConnectionSettings): SqlFragment[];
  /** Ends a read session; it never wrote, so it always rolls back. */
  readonly endStatement: string;
  /**
   * Selects the partner clock as `now`, in UTC, in text canonicalInstant can read; run before
   * the transaction begins. A dialect with commit-ordered cursors also selects
   * `commit_horizon`: the lowest counter value a transaction still open may hold.
   */
  readonly clockSql: string;
  /**
   * The stream's cursor is a counter the database assigns in commit-unsafe order (SQL
   * Server's rowversion): a transaction still open may hold a value below committed ones, so
   * reads stay below `commit_horizon`. Absent: no cursor of this dialect is one.
   */
  commitOrdered?(spec: ReadSpec): boolean;
  /** Selects `name`, `data_type`, `precision` (datetime precision) of a view's columns in order; schema absent = the default one. */
  describeSql(schema: string | undefined, view: string): SqlFragment;
  /** The cursor expression as the driver should return it so that it reads back as canonical text. */
  selectCursor(knex: Knex, expression: Knex.Raw, spec: ReadSpec): Knex.Raw;
  /** A canonical cursor value bound so that it compares exactly against the cursor expression. */
  bindCursor(knex: Knex, value: CursorValue, spec: ReadSpec): Knex.Raw;
  /** Drops a pooled connection's socket at once, with no word to a server that stopped answering. */
  closeConnection(connection: unknown): void;
  /** Rows of a `knex.raw` result (each driver shapes it differently). */
  rowsOf(result: unknown): SourceRow[];
  /**
   * Streams one query's rows in chunks on a pooled connection without buffering the result.
   * Absent: scans read consecutive keyset pages instead.
   */
  streamRows?(connection: unknown, sql: string, bindings: readonly unknown[], chunkSize: number): AsyncIterable<SourceRow[]>;
  /** Privileges beyond reading, as `PRIVILEGE on object` texts; `query` runs in a read session. */
  inspectPrivileges(query: (sql: string, bindings?: readonly Knex.RawBinding[]) => Promise<SourceRow[]>): Promise<string[]>;
}
