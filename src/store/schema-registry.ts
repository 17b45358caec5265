/**
 * Reach schema definitions as registered: the built-in defaults plus the definitions
 * `apply` read from `connectors/schemas/*.json`. Runs map against this catalog.
 */
import type { Kysely, Transaction } from 'kysely';
import { BUILTIN_SCHEMAS } from '../mapping/builtin-schemas.ts';
import { SchemaCatalog, type SchemaCategory, type SchemaDefinition } from '../mapping/schema-definitions.ts';
import type { JsonSchema } from '../mapping/json-schema.ts';
import type { StoreSchema } from './schema.ts';

type Db = Kysely<StoreSchema> | Transaction<StoreSchema>;

/** Registers (or replaces) definitions by name. */
export async function registerSchemaDefinitions(db: Db, definitions: SchemaDefinition[]): Promise<void> {
  for (const d of definitions) {
    const values = {
      name: d.name, name_key: d.name.toLowerCase(), category: d.category, external_id_field: d.externalIdField,
      body: JSON.stringify(d.jsonSchema), updated_at: new Date(),
    };
    await db.deleteFrom('schema_definitions').where('name_key', '=', values.name_key).execute();
    await db.insertInto('schema_definitions').values(values).execute();
  }
}

/** The built-ins overlaid with every registered definition. */
export async function loadSchemaCatalog(db: Db): Promise<SchemaCatalog> {
  const rows = await db.selectFrom('schema_definitions').selectAll().execute();
  return new SchemaCatalog([
    ...BUILTIN_SCHEMAS,
    ...rows.map((r) => ({
      name: r.name, category: r.category as SchemaCategory, externalIdField: r.external_id_field, jsonSchema: r.body as JsonSchema,
    })),
  ]);
}
