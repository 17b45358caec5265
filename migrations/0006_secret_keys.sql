-- The master keys that sealed stored secrets, by id, with a check value (HMAC-SHA256 of a
-- fixed text under the key; it reveals nothing of the key): a key id once used is bound to
-- its key material, and a new key under an old id is refused instead of leaving secrets
-- that no longer decrypt.
create table secret_keys (
  key_id text primary key,
  check_value bytea not null,
  created_at timestamptz not null default now()
);
