-- `verify` (src/engine/verify.ts) compares a stream's delivery record with its view range by
-- range of cursor values: the delivered records of a range are found by version (the row's
-- cursor as sortable text, compared byte-wise as every writer of `delivered` compares it).
-- Keyed on the expression `connector_id || '/' || stream` (neither holds a '/'), not on the
-- two columns: an index led by them lured the planner away from the primary key for the
-- per-record probes of every page (delivery-state.ts `loadDelivered`), scanning the stream's
-- records for each id: a backfill fell to a few hundred rows/s.
create index delivered_version_idx on delivered ((connector_id || '/' || stream), (version collate "C"));

-- A verify run reads the view and holds no stream (pulls go on beside it, like backfill
-- chunks); its repair runs as a `repair` run, which holds the stream like a pull.
drop index runs_one_pull_idx;
create unique index runs_one_pull_idx on runs (connector_id, stream) where status = 'running' and kind not in ('backfill', 'verify');

-- What a verify found (per kind: count and example keys), for run history.
alter table runs add column detail jsonb;
