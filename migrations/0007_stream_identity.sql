-- What a stream's delivery record (watermark, delivered versions, claims) was made against
-- (engine/stream-identity.ts): the sink it delivers to, so a run from a process configured
-- for another target cannot take rows for delivered that never reached it; and the cursor
-- its versions come from, so versions of a new cursor are never compared with old ones.
alter table streams add column delivers_to text;
alter table streams add column cursor_signature text;
-- The cursor a backfill's chunk bounds were planned from: it resumes only under the same one.
alter table backfills add column cursor_signature text;
