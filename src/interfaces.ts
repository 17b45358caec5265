/**
 * The words of reach-puller, defined once. README's glossary repeats them.
 *
 * - tenant: a Reach tenant, one of a partner's customers (a business), named by the
 *   external id the partner chose (`glow-salon-042`).
 * - source: a partner database reached with one read-only credential
 *   (dialect, host, port, database, user). Connectors that share a source share one
 *   connection pool capped by `max_connections`.
 * - connector: one tenant's registration: a source, a schedule and its streams. One YAML
 *   file in `connectors/`.
 * - stream: one view of the source delivered into one Reach schema.
 * - view: the partner's read-only view (or table) a stream reads.
 * - cursor: the view column whose value grows when a row changes (`updated_at`).
 * - watermark: per stream, the position (cursor value, primary key) of the last row the
 *   sink durably accepted. Pulls read strictly after it.
 * - settle window: rows whose cursor is newer than the partner clock minus this window are
 *   not read yet, so a transaction that commits late is still picked up.
 * - checkpoint: the act of storing a new watermark (or a backfill chunk's position) once a page is accepted.
 * - run: one execution of a stream (an incremental pull, a retry, a reconcile, a backfill chunk, a verify or its repair), recorded.
 * - hold: which process runs a stream, a backfill or a source slot (store/holds.ts); it ends
 *   when that process dies.
 * - claim: a record being sent to Reach and not yet confirmed processed; no other send of it
 *   starts until the claim is settled (engine/claimed-delivery.ts).
 * - backfill: an on-demand, range-bounded, resumable scan of a stream's history,
 *   with its own checkpoints, separate from the watermark.
 * - sink: where mapped records go: the Reach resources API or the built-in store.
 * - resource: one record in Reach, keyed by (tenant, schema, external id).
 * - quarantine: records that failed mapping or validation, kept with their reason.
 */

/** SQL dialect of a partner source. */
export type Dialect = 'postgres' | 'mysql' | 'mssql';

/**
 * How a cursor column's values compare and convert.
 * - instant: a point in time with a zone (timestamptz, MySQL TIMESTAMP, datetimeoffset).
 * - local: a wall-clock time without zone (timestamp, DATETIME, datetime2, date),
 *   interpreted in the source's configured `timezone`.
 * - integer: an integer (bigint beyond 2^53 included) or SQL Server rowversion.
 */
export type CursorKind = 'instant' | 'local' | 'integer';

/**
 * A cursor value as text, exactly as precise as the database holds it.
 * Normalised per kind so that text order equals value order within a kind:
 * instant `2024-01-02T03:04:05.123456Z` (6 digits; 7 for SQL Server),
 * local `2024-01-02 03:04:05.123456`, integer `-?[0-9]+`.
 */
export type CursorValue = string;

/** A primary key value as text (ints as decimal strings, so bigints stay exact). */
export type KeyValue = string;

/** A position in a stream's (cursor, primary key) order. */
export interface Position {
  cursor: CursorValue;
  key: KeyValue[];
}

/** A row read from a view: column name -> driver value (strings for exact types). */
export type SourceRow = Record<string, unknown>;

/** A Reach resource as sent: field name -> JSON value. */
export type ResourceRecord = Record<string, unknown>;
