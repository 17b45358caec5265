/**
 * Registered connectors: `apply` writes them all-or-nothing in one transaction; the rest
 * of the puller reads them back as validated configuration.
 */
import { sql, type Kysely, Transaction } from 'kysely';
import type { LoadedConnector } from '../config/load-connectors.ts';
import type { ConnectorConfig } from '../config/connector-schema.ts';
import { DEFAULT_PORTS, sourceIdentity } from '../config/source-identity.ts';
import { PullerError } from '../errors.ts';
import type { StoreSchema } from './schema.ts';

/** A connector as registered. */
export interface RegisteredConnector {
  id: string;
  tenant: string;
  sourceId: string;
  file: string | null;
  enabled: boolean;
  config: ConnectorConfig;
  hash: string;
  updatedAt: Date;
}

export interface ApplyResult {
  created: string[];
  updated: string[];
  unchanged: string[];
}

/**
 * Registers or updates every connector in one transaction. `before` runs first in that
 * transaction (apply registers schema definitions there); if it throws, nothing is written.
 */
export async function registerConnectors(
  db: Kysely<StoreSchema>,
  connectors: LoadedConnector[],
  before?: (trx: Transaction<StoreSchema>) => Promise<void>,
): Promise<ApplyResult> {
  const result: ApplyResult = { created: [], updated: [], unchanged: [] };
  await db.transaction().execute(async (trx) => {
    // The connector revision's lock first: every writer of connectors takes it (the trigger of
    // migration 0008), and one that took a tenant or source row before it could deadlock with
    // another apply that holds the revision and wants that row.
    await sql`select revision from connector_revision for update`.execute(trx);
    await before?.(trx);
    for (const c of connectors) {
      const s = c.config.source;
      const sourceId = sourceIdentity(s);
      await trx.insertInto('tenants').values({ id: c.config.tenant }).onConflict((oc) => oc.doNothing()).execute();
      await trx
        .insertInto('sources')
        .values({
          id: sourceId, dialect: s.dialect, host: s.host, port: s.port ?? DEFAULT_PORTS[s.dialect],
          database_name: s.database, user_name: s.user, max_connections: s.max_connections,
        })
        .onConflict((oc) => oc.column('id').doUpdateSet({ max_connections: s.max_connections, updated_at: new Date() }))
        .execute();
      const existing = await trx.selectFrom('connectors').select(['config_hash', 'tenant_id']).where('id', '=', c.id).executeTakeFirst();
      if (existing && existing.tenant_id !== c.config.tenant) {
        throw new PullerError('RP_CONFIG_INVALID',
          `${c.file}: connector "${c.id}" belongs to tenant "${existing.tenant_id}"; a connector cannot move to another tenant`);
      }
      const row = { tenant_id: c.config.tenant, source_id: sourceId, config: JSON.stringify(c.config), config_hash: c.hash, file: c.file, schedule: c.config.schedule ?? null };
      if (!existing) {
        await trx.insertInto('connectors').values({ id: c.id, ...row }).execute();
        result.created.push(c.id);
      } else if (existing.config_hash !== c.hash) {
        await trx.updateTable('connectors').set({ ...row, updated_at: new Date() }).where('id', '=', c.id).execute();
        result.updated.push(c.id);
      } else {
        result.unchanged.push(c.id);
        continue;
      }
      const names = c.config.streams.map((st) => st.name);
      await trx.deleteFrom('streams').where('connector_id', '=', c.id).where('name', 'not in', names).execute();
      for (const st of c.config.streams) {
        await trx.insertInto('streams').values({ connector_id: c.id, name: st.name, schema_name: st.schema })
          .onConflict((oc) => oc.columns(['connector_id', 'name']).doUpdateSet({ schema_name: st.schema }))
          .execute();
      }
    }
  });
  return result;
}

function toRegistered(r: { id: string; tenant_id: string; source_id: string; file: string | null; enabled: boolean; config: unknown; config_hash: string; updated_at: Date }): RegisteredConnector {
  return {
    id: r.id, tenant: r.tenant_id, sourceId: r.source_id, file: r.file, enabled: r.enabled,
    // The id is the registered one even when the file left it to its name: errors name it.
    config: { ...(r.config as ConnectorConfig), id: r.id }, hash: r.config_hash, updatedAt: r.updated_at,
  };
}

const COLUMNS = ['id', 'tenant_id', 'source_id', 'file', 'enabled', 'config', 'config_hash', 'updated_at'] as const;

/** Every registered connector, ordered by tenant then id. */
export async function listConnectors(db: Kysely<StoreSchema>): Promise<RegisteredConnector[]> {
  const rows = await db.selectFrom('connectors').select(COLUMNS).orderBy('tenant_id').orderBy('id').execute();
  return rows.map(toRegistered);
}

/**
 * The store-wide connector revision: a trigger bumps it in the transaction of every change to
 * `connectors` (migration 0008), so a change is visible once its revision is. Read it before
 * the connectors: the list then holds at least every change up to that revision.
 */
export async function connectorRevision(db: Kysely<StoreSchema>): Promise<string> {
  const row = await db.selectFrom('connector_revision').select('revision').executeTakeFirstOrThrow();
  return String(row.revision);
}

/** One connector, or RP_NOT_FOUND naming the id. */
export async function getConnector(db: Kysely<StoreSchema>, id: string): Promise<RegisteredConnector> {
  const row = await db.selectFrom('connectors').select(COLUMNS).where('id', '=', id).executeTakeFirst();
  if (!row) throw new PullerError('RP_NOT_FOUND', `No connector "${id}" is registered`);
  return toRegistered(row);
}

/** Enables or disables scheduled and manual pulls of a connector. */
export async function setConnectorEnabled(db: Kysely<StoreSchema>, id: string, enabled: boolean): Promise<void> {
  const r = await db.updateTable('connectors').set({ enabled, updated_at: new Date() }).where('id', '=', id).executeTakeFirst();
  if (r.numUpdatedRows === 0n) throw new PullerError('RP_NOT_FOUND', `No connector "${id}" is registered`);
}
