-- One delivery order for every record (README: "One order for every record").

-- Records a run is sending to Reach and Reach has not yet confirmed. Reach applies batches in
-- any order, so a record is never sent while an older send of it is unconfirmed: the claim
-- is the per-record lock, held from before the request until its batches are processed.
-- It carries what was sent, so whoever settles it (the sender, or after a crash the next
-- run that meets it) can record the delivery truthfully.
create table delivery_sends (
  id bigserial primary key,
  connector_id text not null,
  stream text not null,
  run_id bigint not null,
  tenant_id text not null,
  schema_name text not null,
  -- posting: requests may be in flight; accepted: every request answered, batch ids known;
  -- ambiguous: some request's fate is unknown (a timeout after it was sent, a crash).
  state text not null default 'posting',
  upsert_batch_ids text[] not null default '{}',
  delete_batch_ids text[] not null default '{}',
  created_at timestamptz not null default now(),
  foreign key (connector_id, stream) references streams(connector_id, name) on delete cascade
);

create table delivery_claims (
  connector_id text not null,
  stream text not null,
  external_id text not null,
  send_id bigint not null references delivery_sends(id) on delete cascade,
  version text not null,
  content_hash text not null,
  deleted boolean not null,
  primary key (connector_id, stream, external_id)
);
create index delivery_claims_send_idx on delivery_claims (send_id);

-- Runs report rows whose cursor is ahead of the partner clock by more than the settle
-- window (a wrong source timezone), and rows without a position (a NULL key column).
alter table runs add column rows_future_cursor bigint not null default 0;
alter table runs add column rows_null_key bigint not null default 0;
-- The process (host:pid) running it, for operators and for RP_STREAM_BUSY.
alter table runs add column owner text;
-- Every running run beats on a timer; a run whose beat is older than its send deadline
-- has stopped sending (it fences itself), so its unconfirmed sends can be settled by others.
alter table runs alter column heartbeat_at set default now();

-- A backfill that covers a stream from its first row seeds the watermark when it succeeds:
-- the settle ceiling when it began, so the next pull reads only what changed since.
alter table backfills add column seed_cursor text;

-- Who runs a stream or a backfill is a session advisory lock on PostgreSQL (it ends with its
-- connection) or the embedded store's single process: no expiring leases.
drop table stream_leases;

-- A chunk reads from its lower bound itself (rows at the bound belong to the chunk below).
alter table backfill_chunks drop column lower_key;
