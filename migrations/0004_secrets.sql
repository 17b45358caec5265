-- Secrets referenced as ${secret:NAME}, encrypted at rest with AES-256-GCM. The key comes
-- from REACH_PULLER_MASTER_KEY and never reaches the store; key_id says which key sealed a
-- row so `secret rotate-key` can re-encrypt. The name is bound as associated data, so a
-- ciphertext copied onto another name fails to decrypt.
create table secrets (
  name text primary key,
  key_id text not null,
  nonce bytea not null,               -- 12 random bytes, new for every encryption
  ciphertext bytea not null,
  auth_tag bytea not null,            -- 16-byte GCM tag
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
