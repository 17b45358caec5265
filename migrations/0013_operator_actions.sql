-- What operators did through the ops console (src/server/console/): who (the operator name
-- given at login: the ops token names nobody), when, what, on which connector and stream, and
-- how it ended. No foreign key: the trail outlives a connector, and a refused registration
-- names one that never existed.
create table operator_actions (
  id bigserial primary key,
  at timestamptz not null default now(),
  operator text not null,
  connector_id text not null,
  stream text,
  action text not null,
  detail jsonb not null default '{}',
  outcome text not null
);
create index operator_actions_stream_idx on operator_actions (connector_id, stream, id desc);
