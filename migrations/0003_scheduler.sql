-- Scheduler state shared by every `serve` replica on one store.

-- Who runs a stream now. A replica claims a free or expired row, renews it while its run
-- is in progress and deletes it at the end; a dead replica's lease simply expires.
create table stream_leases (
  connector_id text not null,
  stream text not null,
  holder text not null,               -- host:pid:nonce of the replica
  acquired_at timestamptz not null default now(),
  expires_at timestamptz not null,
  primary key (connector_id, stream),
  foreign key (connector_id, stream) references streams(connector_id, name) on delete cascade
);

-- The last cron tick fired per connector: every replica schedules every connector, and the
-- one whose upsert moves last_tick forward fires the tick (graphile-worker's cron style).
create table schedule_ticks (
  connector_id text primary key references connectors(id) on delete cascade,
  last_tick timestamptz not null,
  fired_by text not null,
  updated_at timestamptz not null default now()
);
