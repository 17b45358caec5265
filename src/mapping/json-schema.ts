/**
 * The JSON Schema (draft-07) vocabulary of Reach schema bodies, and the few walks the
 * puller makes over them. Reach adds `x-pii-type` and references of the form
 * `$ref: reach:schemas/<name>` (case-insensitive) to another schema definition.
 */

export const PII_TYPES = ['EMAIL', 'PHONE', 'FIRST_NAME', 'LAST_NAME', 'NAME', 'EXTERNAL_ID'] as const;
export type PiiType = (typeof PII_TYPES)[number];

export type JsonType = 'string' | 'number' | 'integer' | 'boolean' | 'object' | 'array' | 'null';

/** The part of a draft-07 schema node the puller reads; every other keyword is kept as is. */
export interface JsonSchema {
  type?: JsonType | JsonType[];
  format?: string;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema | JsonSchema[];
  required?: string[];
  enum?: unknown[];
  $ref?: string;
  'x-pii-type'?: PiiType;
  [keyword: string]: unknown;
}

const REACH_REF = /^reach:schemas\/(.+)$/i;

/**
 * Returns a copy of `schema` with every `$ref: reach:schemas/<name>` replaced by what a
 * record holds there (the referenced resource's external id: string or integer), reporting
 * each name seen. Ajv cannot resolve Reach's URI scheme, and the record carries an id, not
 * the referenced object. Keywords beside the `$ref` (a narrower `type`) are kept.
 */
export function replaceReachRefs(schema: JsonSchema, onRef: (name: string) => void = () => {}): JsonSchema {
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (node === null || typeof node !== 'object') return node;
    const { $ref, ...rest } = node as Record<string, unknown>;
    const match = typeof $ref === 'string' ? REACH_REF.exec($ref) : null;
    if (match) onRef(match[1]!);
    const copy: Record<string, unknown> = match ? { type: ['string', 'integer'] } : $ref === undefined ? {} : { $ref };
    for (const [key, value] of Object.entries(rest)) copy[key] = walk(value);
    return copy;
  };
  return walk(schema) as JsonSchema;
}

/** The schema of a dotted field path (`address.city`) through nested `properties`, if any. */
export function fieldSchema(root: JsonSchema, path: string): JsonSchema | undefined {
  let node: JsonSchema | undefined = root;
  for (const segment of path.split('.')) {
    const properties: Record<string, JsonSchema> | undefined = node?.properties;
    node = properties && Object.hasOwn(properties, segment) ? properties[segment] : undefined;
  }
  return node;
}
