-- Where a stored secret may be sent (src/secrets/secret-binding.ts): a partner source,
-- `<dialect>://<user>@<host>:<port>`, or a Reach API origin. The operator sets it with
-- `secret set NAME --for DESTINATION` (or `secret bind`); a `${secret:NAME}` resolves only for
-- a connector whose source (for source.password) or Reach URL (for reach.token) is that
-- destination. It is sealed with the value (associated data of the GCM tag): a row whose
-- binding is written here directly no longer decrypts. Rows stored before this migration
-- stay unbound (null) and cannot be referenced until bound.
alter table secrets add column binding text;
