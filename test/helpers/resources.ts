/** Reads what the built-in store holds for a tenant and schema, ordered by external id. */
import type { Kysely } from 'kysely';
import type { StoreSchema } from '../../src/store/schema.ts';

export async function readResources(db: Kysely<StoreSchema>, tenant: string, schema: string): Promise<Record<string, unknown>[]> {
  const rows = await db.selectFrom('resources').select(['external_id', 'body'])
    .where('tenant_id', '=', tenant).where('schema_name', '=', schema).where('deleted', '=', false).execute();
  const numeric = (id: string) => (/^\d+$/.test(id) ? id.padStart(30, '0') : id);
  return rows.sort((a, b) => (numeric(a.external_id) < numeric(b.external_id) ? -1 : 1)).map((r) => r.body);
}
