/**
 * What a test of delivery to Reach checks at the end: Reach holds every row of a people view
 * (`id`, `name` mapped to `first_name`) at its current value, and no claim is left open.
 */
import type { Kysely } from 'kysely';
import type { ReachApiServer } from '../../src/dev/reach-api-server.ts';
import type { StoreSchema } from '../../src/store/schema.ts';
import type { Partner } from './partner.ts';

/** Once Reach has processed everything: its `contacts` of `tenant`, and the view's rows as Reach should hold them. */
export async function reachAndView(api: ReachApiServer, tenant: string, partner: Partner, view: string) {
  await api.settled();
  const rows = await partner.query<{ id: string; name: string }>(`select id::text as id, name from ${view}`);
  return {
    held: Object.fromEntries(api.resources(tenant, 'contacts')),
    view: Object.fromEntries(rows.map((r) => [r.id, { id: r.id, first_name: r.name }])),
  };
}

/** External ids of the connector still claimed (sends not settled). */
export async function openClaims(db: Kysely<StoreSchema>, connectorId: string): Promise<string[]> {
  const rows = await db.selectFrom('delivery_claims').select('external_id').where('connector_id', '=', connectorId).execute();
  return rows.map((r) => r.external_id);
}
