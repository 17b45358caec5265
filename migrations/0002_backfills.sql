-- Backfills: on-demand, range-bounded scans of a stream's history, split into chunks that
-- run in parallel and checkpoint on their own. Separate from stream_state (the watermark).

create table backfills (
  id bigserial primary key,
  connector_id text not null,
  stream text not null,
  status text not null,               -- running | succeeded | failed | cancelled
  range_from text,                    -- canonical cursor, inclusive; null = from the first row
  range_to text,                      -- canonical cursor, inclusive; null = to the last row
  checkpoint_rows integer not null,   -- rows per scan page = per checkpoint
  max_rows_per_second integer,        -- null = unthrottled
  rows_estimated bigint not null default 0,
  owner text,                         -- host:pid of the process running it
  heartbeat_at timestamptz,           -- the owner beats every second; a silent owner died
  attempt_started_at timestamptz,     -- start of the current (or last) run of it, for the rate
  attempt_rows_before bigint not null default 0,  -- rows done when that run started
  error_code text,
  error text,
  created_at timestamptz not null default now(),
  finished_at timestamptz,
  foreign key (connector_id, stream) references streams(connector_id, name) on delete cascade
);
create index backfills_stream_idx on backfills (connector_id, stream, id desc);

-- One chunk: rows with lower_cursor < cursor <= upper_cursor, read after its checkpoint.
create table backfill_chunks (
  backfill_id bigint not null references backfills(id) on delete cascade,
  chunk integer not null,
  lower_cursor text,                  -- exclusive; null = from the first row
  lower_key jsonb,                    -- key that goes with lower_cursor in the first read's position
  upper_cursor text,                  -- inclusive; null = to the last row
  status text not null,               -- pending | running | succeeded | failed
  checkpoint_cursor text,             -- last delivered (cursor, key) of the chunk
  checkpoint_key jsonb,
  rows_read bigint not null default 0,
  rows_sent bigint not null default 0,
  rows_unchanged bigint not null default 0,
  rows_rejected bigint not null default 0,
  rows_deleted bigint not null default 0,
  pages integer not null default 0,
  run_id bigint references runs(id) on delete set null,
  error text,
  updated_at timestamptz not null default now(),
  primary key (backfill_id, chunk)
);
