-- One store-wide revision of the `connectors` table: `serve` reloads connectors when it
-- differs from the one it last loaded (scheduler/scheduler.ts). It replaces a fingerprint of
-- count + max(updated_at), a writer's own clock, which a skewed clock or two commits out of
-- order could leave unchanged while a connector changed.
--
-- A trigger bumps it, so every writer is covered (apply, enable/disable, the ops API, an
-- operator's SQL, a delete cascading from a tenant), in the writer's own transaction: the
-- new revision becomes visible in the same commit as the change. The bump is an UPDATE of a
-- single row, so writers serialise on its row lock and commit their revisions in order; a
-- reader can never see revision N+1 while change N is not yet visible (a sequence could: its
-- values are handed out at nextval, not at commit). The trigger fires BEFORE the statement,
-- so a writer takes the revision lock before any connector row lock. A writer that locks
-- other rows first (apply upserts tenants and sources) must take the revision lock at the
-- start of its transaction (store/connector-registry.ts does), or two writers can deadlock.
create table connector_revision (
  singleton boolean primary key default true check (singleton),
  revision bigint not null
);
insert into connector_revision (revision) values (1);

create function bump_connector_revision() returns trigger
language plpgsql as $$
begin
  update connector_revision set revision = revision + 1;
  return null;
end
$$;

create trigger connectors_bump_revision
  before insert or update or delete or truncate on connectors
  for each statement execute function bump_connector_revision();
