-- State store, version 1: tenants, sources, connectors, streams, watermarks, runs,
-- quarantine, change detection, built-in resource store, Reach schema definitions.

create table tenants (
  id text primary key,
  created_at timestamptz not null default now()
);

-- A partner database credential target. Connectors sharing one share its connection cap.
create table sources (
  id text primary key,                -- dialect://user@host:port/database
  dialect text not null,
  host text not null,
  port integer not null,
  database_name text not null,
  user_name text not null,
  max_connections integer not null,
  updated_at timestamptz not null default now()
);

create table connectors (
  id text primary key,
  tenant_id text not null references tenants(id),
  source_id text not null references sources(id),
  config jsonb not null,              -- validated connector file; secrets as references only
  config_hash text not null,
  file text,
  schedule text,
  enabled boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table streams (
  connector_id text not null references connectors(id) on delete cascade,
  name text not null,
  schema_name text not null,
  parked_reason text,                 -- set when a permanent error stops the stream
  parked_at timestamptz,
  primary key (connector_id, name)
);

-- The watermark: (cursor, key) of the last row the sink durably accepted.
create table stream_state (
  connector_id text not null,
  stream text not null,
  watermark_cursor text not null,
  watermark_key jsonb not null,
  updated_at timestamptz not null default now(),
  primary key (connector_id, stream),
  foreign key (connector_id, stream) references streams(connector_id, name) on delete cascade
);

create table runs (
  id bigserial primary key,
  connector_id text not null,
  stream text not null,
  kind text not null,                 -- pull | backfill | retry
  status text not null,               -- running | succeeded | failed | cancelled
  started_at timestamptz not null default now(),
  ended_at timestamptz,
  rows_read bigint not null default 0,
  rows_sent bigint not null default 0,
  rows_unchanged bigint not null default 0,
  rows_rejected bigint not null default 0,
  rows_deleted bigint not null default 0,
  rows_null_cursor bigint not null default 0,
  pages integer not null default 0,
  watermark_before jsonb,
  watermark_after jsonb,
  error_code text,
  error text,
  heartbeat_at timestamptz not null default now()  -- a running run that stops beating was abandoned
);
create index runs_stream_idx on runs (connector_id, stream, id desc);
-- Never two runs of one stream at once (a backfill chunk is not a `pull`, see kind).
create unique index runs_one_pull_idx on runs (connector_id, stream) where status = 'running' and kind <> 'backfill';

-- Quarantine: records that failed mapping or validation, with the reason.
create table rejected_records (
  id bigserial primary key,
  run_id bigint references runs(id) on delete set null,
  tenant_id text not null,
  connector_id text not null,
  stream text not null,
  external_id text,
  source_key jsonb not null,
  source_cursor text,
  fields jsonb not null,
  reason text not null,
  created_at timestamptz not null default now(),
  resolved_at timestamptz
);
-- One open entry per source row: a row failing again updates its entry.
create unique index rejected_open_idx on rejected_records (connector_id, stream, source_key) where resolved_at is null;

-- Change detection and delivered keys: what was last delivered per external id.
create table delivered (
  connector_id text not null,
  stream text not null,
  external_id text not null,
  content_hash text not null,
  version text not null,              -- sortable source version (engine/version-key.ts)
  deleted boolean not null default false,
  updated_at timestamptz not null default now(),
  primary key (connector_id, stream, external_id)
);

-- The built-in resource store: Reach's merge semantics, guarded by source version.
create table resources (
  tenant_id text not null,
  schema_name text not null,
  external_id text not null,
  body jsonb not null,
  version text not null,
  deleted boolean not null default false,
  updated_at timestamptz not null default now(),
  primary key (tenant_id, schema_name, external_id)
);

create table schema_definitions (
  name text primary key,
  name_key text not null unique,      -- lower(name): names are unique case-insensitively
  category text not null,
  external_id_field text not null,
  body jsonb not null,
  builtin boolean not null default false,
  updated_at timestamptz not null default now()
);

-- Reach deletes a field sent as null: after a merge, drop top-level null fields (nested
-- values are kept as sent, which is what a PATCH of the top-level fields does).
create function jsonb_strip_nulls_top(body jsonb) returns jsonb
language sql immutable as $$
  select coalesce(jsonb_object_agg(key, value), '{}'::jsonb) from jsonb_each(body) where value <> 'null'::jsonb
$$;
