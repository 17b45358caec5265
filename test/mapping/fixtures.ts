/** Stream configs and definitions shared by the mapping tests. */
import type { StreamConfig } from '../../src/config/connector-schema.ts';
import { BUILTIN_SCHEMAS } from '../../src/mapping/builtin-schemas.ts';
import { SchemaCatalog } from '../../src/mapping/schema-definitions.ts';
import type { SchemaDefinition } from '../../src/mapping/schema-definitions.ts';

export const catalog = new SchemaCatalog(BUILTIN_SCHEMAS);

export function builtin(name: string): SchemaDefinition {
  const definition = catalog.get(name);
  if (!definition) throw new Error(`no built-in schema ${name}`);
  return definition;
}

/** A valid stream of `public.customers` into `contacts`, with overrides. */
export function stream(overrides: Partial<StreamConfig> = {}): StreamConfig {
  return {
    name: 'customers',
    view: 'public.customers',
    schema: 'contacts',
    primary_key: ['id'],
    cursor: 'updated_at',
    null_cursor: 'report',
    fields: { id: 'id', email: { column: 'email', transform: ['trim', 'lowercase'] } },
    ...overrides,
  };
}
