-- The built-in store's version guard, per stream: each stream that writes a record keeps its
-- own version there (`connector/stream` -> version), so two streams into one schema, whose
-- cursors have nothing to do with each other, each land their fields, as in Reach; the guard
-- still refuses a stream's older read (a backfill racing its pull). `version` stays the last
-- write's; rows written before this migration (an empty map) keep the old guard on it until a
-- stream writes them again.
alter table resources add column stream_versions jsonb not null default '{}'::jsonb;
