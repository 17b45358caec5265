/** Kysely table types of the state store; they mirror `migrations/*.sql`. */
import type { ColumnType } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
/** jsonb: read as parsed JSON, written as JSON text. */
type Json<T> = ColumnType<T, string, string>;
/** bigint columns come back as strings from both drivers (exact beyond 2^53). */
type Int8 = ColumnType<string, number | string | undefined, number | string>;

export interface TenantsTable {
  id: string;
  created_at: Timestamp;
}

export interface SourcesTable {
  id: string;
  dialect: string;
  host: string;
  port: number;
  database_name: string;
  user_name: string;
  max_connections: number;
  updated_at: Timestamp;
}

export interface ConnectorsTable {
  id: string;
  tenant_id: string;
  source_id: string;
  config: Json<unknown>;
  config_hash: string;
  file: string | null;
  schedule: string | null;
  enabled: ColumnType<boolean, boolean | undefined, boolean>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** One row: bumped by a trigger in the transaction of every change to `connectors` (migration 0008). */
export interface ConnectorRevisionTable {
  singleton: ColumnType<boolean, boolean | undefined, never>;
  revision: Int8;
}

export interface StreamsTable {
  connector_id: string;
  name: string;
  schema_name: string;
  parked_reason: string | null;
  parked_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  /** engine/stream-identity.ts */
  delivers_to: ColumnType<string | null, string | null | undefined, string | null>;
  cursor_signature: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface StreamStateTable {
  connector_id: string;
  stream: string;
  watermark_cursor: string;
  watermark_key: Json<string[]>;
  updated_at: Timestamp;
}

/** `verify` reads and holds no stream (like `backfill`); `repair` delivers what a verify found, holding the stream. */
export type RunKind = 'pull' | 'backfill' | 'retry' | 'reconcile' | 'verify' | 'repair';

/** Kinds of run that hold their stream: one at a time per stream, in every process. */
export const STREAM_HOLDING_KINDS: readonly RunKind[] = ['pull', 'retry', 'reconcile', 'repair'];
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface RunsTable {
  id: ColumnType<string, undefined, never>;
  connector_id: string;
  stream: string;
  kind: RunKind;
  status: RunStatus;
  started_at: Timestamp;
  ended_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  rows_read: Int8;
  rows_sent: Int8;
  rows_unchanged: Int8;
  rows_rejected: Int8;
  rows_deleted: Int8;
  rows_null_cursor: Int8;
  rows_future_cursor: Int8;
  rows_null_key: Int8;
  pages: ColumnType<number, number | undefined, number>;
  watermark_before: Json<unknown> | null;
  watermark_after: Json<unknown> | null;
  error_code: string | null;
  error: string | null;
  heartbeat_at: Timestamp;
  owner: string | null;
  /** What a verify run found (migration 0011). */
  detail: ColumnType<unknown, string | null | undefined, string | null>;
}

export interface RejectedRecordsTable {
  id: ColumnType<string, undefined, never>;
  run_id: ColumnType<string | null, string | number | null, string | number | null>;
  tenant_id: string;
  connector_id: string;
  stream: string;
  external_id: string | null;
  source_key: Json<string[]>;
  source_cursor: string | null;
  fields: Json<string[]>;
  reason: string;
  created_at: Timestamp;
  resolved_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface DeliveredTable {
  connector_id: string;
  stream: string;
  external_id: string;
  content_hash: string;
  version: string;
  deleted: ColumnType<boolean, boolean | undefined, boolean>;
  updated_at: Timestamp;
}

export interface ResourcesTable {
  tenant_id: string;
  schema_name: string;
  external_id: string;
  body: Json<Record<string, unknown>>;
  version: string;
  /** Per writing stream (`connector/stream`), the version it last wrote: the guard's (migration 0014). */
  stream_versions: ColumnType<Record<string, string>, Record<string, string> | undefined, Record<string, string>>;
  deleted: ColumnType<boolean, boolean | undefined, boolean>;
  updated_at: Timestamp;
}

export interface SchemaDefinitionsTable {
  name: string;
  name_key: string;
  category: string;
  external_id_field: string;
  body: Json<Record<string, unknown>>;
  builtin: ColumnType<boolean, boolean | undefined, boolean>;
  updated_at: Timestamp;
}

/** bytea: a Buffer from node-pg, a Uint8Array from PGlite. */
type Bytes = ColumnType<Uint8Array, Uint8Array, Uint8Array>;

export interface SecretKeysTable {
  key_id: string;
  check_value: Bytes;
  created_at: Timestamp;
}

export interface SecretsTable {
  name: string;
  key_id: string;
  nonce: Bytes;
  ciphertext: Bytes;
  auth_tag: Bytes;
  /** Where the secret may be sent (migration 0010), sealed with it; null: unbound, referenced by no connector. */
  binding: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** What a connector's cron schedules run: pulls (`schedule`) or a verify (`verify_schedule`). */
export type ScheduledJob = 'pull' | 'verify';

export interface ScheduleTicksTable {
  connector_id: string;
  /** Which schedule of the connector ticked: its pulls (`schedule`) or its verify (`verify_schedule`). */
  job: ColumnType<ScheduledJob, ScheduledJob | undefined, ScheduledJob>;
  last_tick: Timestamp;
  fired_by: string;
  updated_at: Timestamp;
}

export type BackfillStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';
export type BackfillChunkStatus = 'pending' | 'running' | 'succeeded' | 'failed';

export interface BackfillsTable {
  id: ColumnType<string, undefined, never>;
  connector_id: string;
  stream: string;
  status: BackfillStatus;
  range_from: string | null;
  range_to: string | null;
  checkpoint_rows: number;
  max_rows_per_second: number | null;
  rows_estimated: Int8;
  seed_cursor: string | null;
  /** The cursor its chunk bounds were planned from (engine/stream-identity.ts). */
  cursor_signature: ColumnType<string | null, string | null | undefined, string | null>;
  owner: string | null;
  heartbeat_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  attempt_started_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  attempt_rows_before: Int8;
  error_code: string | null;
  error: string | null;
  created_at: Timestamp;
  finished_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface BackfillChunksTable {
  backfill_id: ColumnType<string, string | number, never>;
  chunk: number;
  lower_cursor: string | null;
  upper_cursor: string | null;
  status: BackfillChunkStatus;
  checkpoint_cursor: string | null;
  checkpoint_key: Json<string[]> | null;
  rows_read: Int8;
  rows_sent: Int8;
  rows_unchanged: Int8;
  rows_rejected: Int8;
  rows_deleted: Int8;
  pages: ColumnType<number, number | undefined, number>;
  run_id: ColumnType<string | null, string | number | null | undefined, string | number | null>;
  error: string | null;
  updated_at: Timestamp;
}

export type SendState = 'posting' | 'accepted' | 'ambiguous';

export interface DeliverySendsTable {
  id: ColumnType<string, undefined, never>;
  connector_id: string;
  stream: string;
  run_id: ColumnType<string, string | number, never>;
  tenant_id: string;
  schema_name: string;
  state: ColumnType<SendState, SendState | undefined, SendState>;
  upsert_batch_ids: ColumnType<string[], string[] | undefined, string[]>;
  delete_batch_ids: ColumnType<string[], string[] | undefined, string[]>;
  created_at: Timestamp;
}

export interface DeliveryClaimsTable {
  connector_id: string;
  stream: string;
  external_id: string;
  send_id: ColumnType<string, string | number, never>;
  version: string;
  content_hash: string;
  deleted: boolean;
}

/** One operator action through the console (migration 0013): `outcome` is `ok` or the error code. */
export interface OperatorActionsTable {
  id: ColumnType<string, undefined, never>;
  at: Timestamp;
  operator: string;
  connector_id: string;
  stream: string | null;
  action: string;
  detail: Json<Record<string, unknown>>;
  outcome: string;
}

export interface StoreSchema {
  operator_actions: OperatorActionsTable;
  delivery_sends: DeliverySendsTable;
  delivery_claims: DeliveryClaimsTable;
  schedule_ticks: ScheduleTicksTable;
  tenants: TenantsTable;
  sources: SourcesTable;
  connectors: ConnectorsTable;
  connector_revision: ConnectorRevisionTable;
  streams: StreamsTable;
  stream_state: StreamStateTable;
  runs: RunsTable;
  rejected_records: RejectedRecordsTable;
  delivered: DeliveredTable;
  resources: ResourcesTable;
  schema_definitions: SchemaDefinitionsTable;
  secrets: SecretsTable;
  secret_keys: SecretKeysTable;
  backfills: BackfillsTable;
  backfill_chunks: BackfillChunksTable;
}
