/**
 * Reach schema definitions: the built-in defaults plus the partner's own files in
 * `connectors/schemas/*.json`, loaded into one catalog keyed case-insensitively
 * (Reach treats `Order` and `ORDER` as the same schema).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ConfigProblem } from '../errors.ts';
import { reachSchemaName } from '../config/connector-schema.ts';
import { BUILTIN_SCHEMAS } from './builtin-schemas.ts';
import type { JsonSchema } from './json-schema.ts';
import { inspectJsonSchema } from './validator.ts';

export const SCHEMA_CATEGORIES = ['contacts_schema', 'transactions_schema', 'locations_schema', 'custom_schema'] as const;
export type SchemaCategory = (typeof SCHEMA_CATEGORIES)[number];

/** A Reach schema definition, as the puller maps and validates against it. */
export interface SchemaDefinition {
  name: string;
  category: SchemaCategory;
  /** Top-level property holding the record's id in the partner system. */
  externalIdField: string;
  /** Draft-07 object schema; `$ref: reach:schemas/<name>` marks a reference to another definition. */
  jsonSchema: JsonSchema;
}

/** Definitions by name, looked up case-insensitively like Reach does. */
export class SchemaCatalog {
  readonly #byKey = new Map<string, SchemaDefinition>();

  constructor(definitions: Iterable<SchemaDefinition>) {
    for (const definition of definitions) this.#byKey.set(definition.name.toLowerCase(), definition);
  }

  get(name: string): SchemaDefinition | undefined {
    return this.#byKey.get(name.toLowerCase());
  }

  get definitions(): SchemaDefinition[] {
    return [...this.#byKey.values()];
  }
}

/** Keys a schema file may carry besides the required four (Reach's own examples include them). */
const OPTIONAL_FILE_KEYS = new Set(['description', 'pluralName']);
const REQUIRED_FILE_KEYS = ['name', 'category', 'external_id_field', 'schema'] as const;

interface LoadedFile {
  file: string;
  /** The file's name when it is valid, even if other parts of the file are not. */
  name?: string;
  definition?: SchemaDefinition;
  refs: string[];
}

/**
 * Loads `dir/*.json` (`{name, category, external_id_field, schema}`) on top of the built-in
 * definitions. A file named like a built-in overrides it. Every problem of every file is
 * returned; only files without problems enter the catalog.
 */
export async function loadSchemaDefinitionFiles(
  dir: string,
  builtins: readonly SchemaDefinition[] = BUILTIN_SCHEMAS,
): Promise<{ catalog: SchemaCatalog; problems: ConfigProblem[] }> {
  const problems: ConfigProblem[] = [];
  const entries = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });

  const loaded: LoadedFile[] = [];
  for (const entry of entries.filter((e) => e.endsWith('.json')).sort()) {
    const file = join(dir, entry);
    const report = (path: string, message: string): void => void problems.push({ file, path, message });
    try {
      loaded.push(parseSchemaFile(file, JSON.parse(await readFile(file, 'utf8')), report));
    } catch (error) {
      report('', `cannot read the schema file: ${(error as Error).message}`);
    }
  }

  // References may point at any valid name, even one whose file has other problems: those are reported once, there.
  const known = new Set([...builtins.map((d) => d.name), ...loaded.flatMap((l) => l.name ?? [])].map((n) => n.toLowerCase()));
  const fileByKey = new Map<string, string>();
  const definitions = [...builtins];
  for (const { file, name, definition, refs } of loaded) {
    let ok = true;
    const earlier = name === undefined ? undefined : fileByKey.get(name.toLowerCase());
    if (earlier !== undefined) {
      ok = false;
      problems.push({ file, path: 'name', message: `"${name}" is already defined in ${earlier}; names are unique case-insensitively` });
    } else if (name !== undefined) {
      fileByKey.set(name.toLowerCase(), file);
    }
    for (const ref of refs.filter((r) => !known.has(r.toLowerCase()))) {
      ok = false;
      problems.push({ file, path: 'schema', message: `references unknown schema "${ref}"; define it in connectors/schemas or fix the name` });
    }
    if (ok && definition) definitions.push(definition);
  }
  return { catalog: new SchemaCatalog(definitions), problems };
}

/** Checks one file's body, reporting each problem; returns the definition when the shape allows. */
function parseSchemaFile(file: string, body: unknown, report: (path: string, message: string) => void): LoadedFile {
  const refs: string[] = [];
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    report('', 'must be a JSON object {name, category, external_id_field, schema}');
    return { file, refs };
  }
  const raw = body as Record<string, unknown>;
  let ok = true;
  const fail = (path: string, message: string): void => {
    ok = false;
    report(path, message);
  };
  for (const key of REQUIRED_FILE_KEYS) if (!(key in raw)) fail(key, 'is required');
  for (const key of Object.keys(raw)) {
    if (!(REQUIRED_FILE_KEYS as readonly string[]).includes(key) && !OPTIONAL_FILE_KEYS.has(key)) {
      fail(key, `is not a schema file key (${[...REQUIRED_FILE_KEYS, ...OPTIONAL_FILE_KEYS].join(', ')})`);
    }
  }

  const { name, category, external_id_field: externalIdField, schema } = raw;
  if (name !== undefined && !reachSchemaName.safeParse(name).success) fail('name', 'must be URL-safe: 1-100 letters, digits, - or _');
  if (category !== undefined && !(SCHEMA_CATEGORIES as readonly unknown[]).includes(category)) fail('category', `must be one of ${SCHEMA_CATEGORIES.join(', ')}`);

  const isObjectSchema = schema !== null && typeof schema === 'object' && !Array.isArray(schema);
  if (schema !== undefined) {
    if (!isObjectSchema || (schema as JsonSchema).type !== 'object' || typeof (schema as JsonSchema).properties !== 'object') {
      fail('schema', 'must be a draft-07 JSON Schema with "type": "object" and "properties"');
    } else {
      const inspection = inspectJsonSchema(schema as JsonSchema);
      refs.push(...inspection.references);
      for (const problem of inspection.problems) fail(problem.path ? `schema.${problem.path}` : 'schema', problem.message);
    }
  }
  if (externalIdField !== undefined) {
    const properties = isObjectSchema ? (schema as JsonSchema).properties : undefined;
    if (typeof externalIdField !== 'string' || !properties || typeof properties !== 'object' || !Object.hasOwn(properties, externalIdField)) {
      fail('external_id_field', `must name a top-level property of the schema (got ${JSON.stringify(externalIdField)})`);
    }
  }
  const validName = reachSchemaName.safeParse(name).success ? (name as string) : undefined;
  if (!ok) return { file, name: validName, refs };
  return {
    file,
    name: validName,
    refs,
    definition: { name: name as string, category: category as SchemaCategory, externalIdField: externalIdField as string, jsonSchema: schema as JsonSchema },
  };
}
