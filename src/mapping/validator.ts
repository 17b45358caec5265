/**
 * Validates mapped records against their schema definition with Ajv (draft-07, all
 * errors, formats). Each definition is compiled once and cached with it.
 *
 * A null field means "delete this field" in Reach (merge-patch semantics), not "the
 * value null", so nulls in object properties are left out before validation; a required
 * field sent as null then fails as missing, which is exactly what Reach would refuse.
 */
import Ajv from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import ajvFormats from 'ajv-formats/dist/formats.js';
import { quickDateTime } from './date-time-format.ts';
import { PII_TYPES, replaceReachRefs } from './json-schema.ts';
import type { JsonSchema } from './json-schema.ts';
import type { SchemaDefinition } from './schema-definitions.ts';

export type ValidationResult = { ok: true } | { ok: false; fields: string[]; message: string };

const ajv = new Ajv.default({
  allErrors: true,
  // Unknown keywords are typos in a schema file; loose type combinations are legal draft-07.
  strictSchema: true,
  strictTypes: false,
  strictTuples: false,
});
addFormats.default(ajv);
const fullDateTime = ajvFormats.fullFormats['date-time'] as { validate: (text: string) => boolean; compare: (a: string, b: string) => number | undefined };
ajv.addFormat('date-time', { ...fullDateTime, validate: quickDateTime(fullDateTime.validate) });
// Values are checked by `piiProblems`, which, unlike a keyword meta-schema, reports every one with its path.
ajv.addKeyword('x-pii-type');

const compiled = new WeakMap<SchemaDefinition, ValidateFunction>();

/** The schema Ajv compiles: Reach references resolved, root `$id` dropped so two definitions never clash in Ajv's registry. */
function prepare(schema: JsonSchema, onRef?: (name: string) => void): JsonSchema {
  const { $id: _id, ...prepared } = replaceReachRefs(schema, onRef);
  return prepared;
}

/** Compiles without leaving the schema in Ajv's cache: the caller owns the function, and a reloaded catalog can be collected. */
function compileDetached(prepared: JsonSchema): ValidateFunction {
  try {
    return ajv.compile(prepared);
  } finally {
    ajv.removeSchema(prepared);
  }
}

/** Checks a schema body the way `validate` will compile it; lists problems and the definitions it references. */
export function inspectJsonSchema(schema: JsonSchema): { problems: { path: string; message: string }[]; references: string[] } {
  const references: string[] = [];
  const prepared = prepare(schema, (name) => references.push(name));
  const problems = piiProblems(prepared, '');
  if (!ajv.validateSchema(prepared)) {
    problems.push(...(ajv.errors ?? []).map((e) => ({ path: dotted(e.instancePath), message: e.message ?? 'is invalid' })));
  }
  if (problems.length > 0) return { problems, references };
  try {
    compileDetached(prepared);
    return { problems: [], references };
  } catch (error) {
    return { problems: [{ path: '', message: (error as Error).message }], references };
  }
}

/** Every `x-pii-type` whose value Reach does not know, at any depth. */
function piiProblems(node: unknown, path: string): { path: string; message: string }[] {
  if (node === null || typeof node !== 'object') return [];
  const problems = Object.entries(node).flatMap(([key, value]) => piiProblems(value, path ? `${path}.${key}` : key));
  const pii = (node as JsonSchema)['x-pii-type'];
  if (!Array.isArray(node) && pii !== undefined && !(PII_TYPES as readonly unknown[]).includes(pii)) {
    problems.push({ path: path ? `${path}.x-pii-type` : 'x-pii-type', message: `must be one of ${PII_TYPES.join(', ')}` });
  }
  return problems;
}

/** Validates one mapped record; on failure names every offending field. */
export function validate(definition: SchemaDefinition, record: Record<string, unknown>): ValidationResult {
  let check = compiled.get(definition);
  if (!check) {
    check = compileDetached(prepare(definition.jsonSchema));
    compiled.set(definition, check);
  }
  if (check(withoutNulls(record))) return { ok: true };
  // An `if` error only repeats the `then`/`else` error reported beside it.
  const errors = (check.errors ?? []).filter((e) => e.keyword !== 'if');
  const fields = [...new Set(errors.map(fieldOf))];
  const message = errors.map((e) => describe(e, record)).join('; ');
  return { ok: false, fields, message };
}

/**
 * The record with null object properties removed at any depth (a merge patch deletes
 * nested members too); the same object when it has none. Array items are values, not
 * patches, so a null inside an array stays and is validated.
 */
function withoutNulls(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  let copy: Record<string, unknown> | undefined;
  // for...in, not Object.entries: no array per record when there is nothing to remove.
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const item = (value as Record<string, unknown>)[key];
    const cleaned = item === null ? undefined : withoutNulls(item);
    if (cleaned !== item) {
      copy ??= { ...(value as Record<string, unknown>) };
      if (cleaned === undefined) delete copy[key];
      else copy[key] = cleaned;
    }
  }
  return copy ?? value;
}

/** `/items/0/price` -> `items.0.price`. */
function dotted(pointer: string): string {
  return pointer.split('/').slice(1).map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~')).join('.');
}

function fieldOf(error: ErrorObject): string {
  const base = dotted(error.instancePath);
  const child = error.keyword === 'required' ? error.params.missingProperty
    : error.keyword === 'additionalProperties' ? error.params.additionalProperty
    : undefined;
  return [base, child].filter((s) => s).join('.') || '(record)';
}

function describe(error: ErrorObject, record: Record<string, unknown>): string {
  const field = fieldOf(error);
  if (error.keyword === 'required' && valueAt(record, field) === null) {
    return `${field}: is required and cannot be null (null deletes the field in Reach)`;
  }
  const allowed = error.keyword === 'enum' ? ` (${(error.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')})` : '';
  return `${field}: ${error.message ?? 'is invalid'}${allowed}`;
}

function valueAt(record: Record<string, unknown>, path: string): unknown {
  let node: unknown = record;
  for (const segment of path.split('.')) node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[segment] : undefined;
  return node;
}
