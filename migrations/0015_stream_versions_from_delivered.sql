-- Records the built-in store held before 0014 kept an empty `stream_versions`, and their guard
-- still compared every stream's versions with the last write's: a stream whose cursor sorts
-- below another's (a bigint beside a timestamp, an older row of another view) lost its
-- changes to such a record. What each stream last wrote there is in `delivered` (the store
-- records it in the write's own transaction): the map is filled from it, for the streams
-- that deliver to the built-in store, with the schema each stream's config names.
update resources r set stream_versions = m.versions
from (
  select c.tenant_id, lower(x->>'schema') as schema_key, d.external_id,
    jsonb_object_agg(d.connector_id || '/' || d.stream, d.version) as versions
  from delivered d
  join streams s on s.connector_id = d.connector_id and s.name = d.stream and s.delivers_to = 'store'
  join connectors c on c.id = d.connector_id
  cross join lateral jsonb_array_elements(c.config->'streams') x
  where x->>'name' = d.stream
  group by c.tenant_id, lower(x->>'schema'), d.external_id
) m
where r.stream_versions = '{}'::jsonb and r.tenant_id = m.tenant_id
  and lower(r.schema_name) = m.schema_key and r.external_id = m.external_id;
