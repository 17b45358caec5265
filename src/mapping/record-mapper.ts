/**
 * Turns a view row into a Reach resource, as a stream's `fields` say.
 *
 * - `target: column` copies the column, converted to the target field's JSON Schema type
 *   when that type is unambiguous (see `coercionFor`), otherwise unchanged.
 * - `target: {column, transform}` applies the listed transforms, and nothing else.
 * - `target: {const}` always sends the constant.
 * - `a.b` targets build nested objects.
 * A NULL column becomes null, which deletes the field in Reach: that is what the
 * partner's data says. A column missing from the row is an upstream bug, never a null.
 */
import type { StreamConfig } from '../config/connector-schema.ts';
import { ConfigError, PermanentError, RecordError } from '../errors.ts';
import type { ConfigProblem } from '../errors.ts';
import type { ResourceRecord, SourceRow } from '../interfaces.ts';
import { fieldSchema } from './json-schema.ts';
import type { JsonSchema, JsonType } from './json-schema.ts';
import type { SchemaDefinition } from './schema-definitions.ts';
import { compilePipeline, TRANSFORMS } from './transforms.ts';
import type { Transform, TransformEnv } from './transforms.ts';

export interface RecordMapperOptions extends TransformEnv {
  stream: Pick<StreamConfig, 'name' | 'view' | 'fields' | 'deleted'>;
  definition: SchemaDefinition;
  /** Where the stream sits in its connector file, for problem paths. */
  path?: string;
}

/** A mapped row: the resource and its id in the partner system. */
export interface MappedRecord {
  externalId: string;
  record: ResourceRecord;
}

export interface RecordMapper {
  /** Source columns the mapper reads (mapped columns and the delete marker), each once. */
  readonly columnsUsed: readonly string[];
  /** Source columns the external id is read from (none for a constant). */
  readonly idColumns: readonly string[];
  /** Maps a row; throws RecordError for a bad value, PermanentError RP_COLUMN_MISSING for an absent column. */
  mapRow(row: SourceRow): MappedRecord;
  /** Maps only the external id: all a delete or a key comparison needs. */
  externalId(row: SourceRow): string;
  /** Whether the row is soft-deleted, per the stream's `deleted` setting. */
  isDeleted(row: SourceRow): boolean;
}

interface CompiledField {
  target: string;
  /** The column read, absent for a constant. */
  column?: string;
  /** `target` split at dots, the last segment being the property set. */
  parents: string[];
  leaf: string;
  read: (row: SourceRow) => unknown;
  transform?: Transform;
}

/** Segments that would reach Object.prototype instead of creating a property. */
const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);

/** The one non-null type a field schema allows, if exactly one. */
function singleType(schema: JsonSchema | undefined): JsonType | undefined {
  const types = Array.isArray(schema?.type) ? schema.type.filter((t) => t !== 'null') : [schema?.type];
  return types.length === 1 ? types[0] : undefined;
}

/**
 * The conversion a plain column gets from its target field's type. Sources deliver exact
 * types as text (decimals, bigints, timestamps) and MySQL JSON possibly as text; these
 * conversions make them the JSON values the schema asks for, exactly or not at all.
 */
function coercionFor(schema: JsonSchema | undefined, env: TransformEnv): Transform | undefined {
  switch (singleType(schema)) {
    case 'number': return TRANSFORMS.decimal();
    case 'integer': return TRANSFORMS.integer();
    case 'boolean': return TRANSFORMS.boolean();
    case 'array':
    case 'object': return TRANSFORMS.json();
    case 'string': {
      if (schema?.format === 'date-time') return TRANSFORMS.iso8601(undefined, env);
      // A numeric id into a string field is unambiguous; other types are left for validation to report.
      const text = TRANSFORMS.string();
      return (value, field) => (typeof value === 'number' || typeof value === 'bigint' ? text(value, field) : value);
    }
    default: return undefined;
  }
}

function readColumn(column: string, target: string, stream: RecordMapperOptions['stream']): (row: SourceRow) => unknown {
  return (row) => {
    if (!Object.hasOwn(row, column)) {
      throw new PermanentError('RP_COLUMN_MISSING', `Stream ${stream.name}: column "${column}" (mapped to ${target}) is missing from the rows of ${stream.view}`);
    }
    return row[column];
  };
}

/**
 * Compiles a stream's mapping once. Throws ConfigError listing every problem that makes
 * the mapping unusable (external id not mapped, conflicting targets, bad transform options).
 */
export function compileRecordMapper(options: RecordMapperOptions): RecordMapper {
  const { stream, definition } = options;
  const path = options.path ?? `streams.${stream.name}`;
  const problems: ConfigProblem[] = [];
  const fields: CompiledField[] = [];
  const columns = new Set<string>();
  const targets = Object.keys(stream.fields);

  if (!Object.hasOwn(stream.fields, definition.externalIdField)) {
    problems.push({ path: `${path}.fields`, message: `must map "${definition.externalIdField}", the external id of schema "${definition.name}"` });
  }
  for (const [target, spec] of Object.entries(stream.fields)) {
    const segments = target.split('.');
    const at = `${path}.fields.${target}`;
    if (segments.some((s) => FORBIDDEN_SEGMENTS.has(s))) problems.push({ path: at, message: 'is not a usable field name' });
    const parent = targets.find((other) => target.startsWith(`${other}.`));
    if (parent !== undefined) problems.push({ path: at, message: `conflicts with "${parent}": map either the object or its fields` });

    let read: CompiledField['read'];
    let transform: Transform | undefined;
    let column: string | undefined;
    if (typeof spec === 'object' && 'const' in spec) {
      read = () => spec.const;
    } else {
      column = typeof spec === 'string' ? spec : spec.column;
      columns.add(column);
      read = readColumn(column, target, stream);
      try {
        transform = typeof spec === 'object' && spec.transform
          ? compilePipeline(spec.transform, options)
          : coercionFor(fieldSchema(definition.jsonSchema, target), options);
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        problems.push(...error.problems.map((p) => ({ ...p, path: at })));
      }
    }
    fields.push({ target, column, parents: segments.slice(0, -1), leaf: segments.at(-1)!, read, transform });
  }
  if (problems.length > 0) throw new ConfigError(problems);

  if (stream.deleted) columns.add(stream.deleted.column);
  const isDeleted = stream.deleted ? deletedCheck(stream.deleted, stream) : () => false;
  const idField = fields.find((f) => f.target === definition.externalIdField)!;
  const valueOf = (field: CompiledField, row: SourceRow): unknown => {
    const raw = field.read(row);
    return field.transform ? field.transform(raw, field.target) : raw;
  };

  return {
    columnsUsed: [...columns],
    idColumns: idField.column === undefined ? [] : [idField.column],

    mapRow(row) {
      const record: ResourceRecord = {};
      for (const field of fields) {
        let node = record;
        for (const segment of field.parents) node = (node[segment] ??= {}) as ResourceRecord;
        node[field.leaf] = valueOf(field, row);
      }
      return { externalId: externalIdOf(record, definition.externalIdField), record };
    },

    externalId: (row) => externalIdOf({ [idField.leaf]: valueOf(idField, row) }, definition.externalIdField),

    isDeleted,
  };
}

/** A soft-delete marker: a flag that is true, or (by default) any non-null value such as `deleted_at`. */
function deletedCheck(deleted: NonNullable<StreamConfig['deleted']>, stream: RecordMapperOptions['stream']): (row: SourceRow) => boolean {
  const read = readColumn(deleted.column, 'the delete marker', stream);
  const flag = TRANSFORMS.boolean();
  return (row) => {
    const value = read(row);
    if (value === null) return false;
    return deleted.boolean ? flag(value, deleted.column) === true : true;
  };
}

function externalIdOf(record: ResourceRecord, field: string): string {
  const id = record[field];
  if (typeof id === 'string' && id !== '') return id;
  if (typeof id === 'number' && Number.isFinite(id)) return String(id);
  throw new RecordError([field], `${field}: the external id must be a non-empty string or a number, got ${id === null ? 'null' : typeof id}`);
}
