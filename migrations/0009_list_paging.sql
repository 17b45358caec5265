-- Keyset paging of the lists (store/keyset-page.ts): each page starts in an index at the
-- key after the previous page's last row, whatever the list's length.
-- `rejects`: by stream, then id (open entries only unless --all).
create index rejected_records_page_idx on rejected_records (connector_id, stream, id);
-- `runs` of every stream of a connector, newest first (one stream uses runs_stream_idx).
create index runs_connector_idx on runs (connector_id, id desc);
