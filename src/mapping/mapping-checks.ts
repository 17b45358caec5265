/**
 * Apply-time checks of a stream's mapping, each problem with its path in the connector
 * file. Without view columns (before any database is reachable) it checks the config
 * against the schema definition; with them, also that every column it names exists.
 */
import type { StreamConfig } from '../config/connector-schema.ts';
import { ConfigError } from '../errors.ts';
import type { ConfigProblem } from '../errors.ts';
import type { ColumnInfo } from '../sources/source.ts';
import { fieldSchema } from './json-schema.ts';
import { compileRecordMapper } from './record-mapper.ts';
import type { SchemaDefinition } from './schema-definitions.ts';
import type { TransformEnv } from './transforms.ts';

export interface StreamCheck extends TransformEnv {
  stream: StreamConfig;
  definition: SchemaDefinition;
  /** Where the stream sits in its connector file: `streams[1]`. */
  path: string;
  /** The view's columns; absent for the config-only check. */
  columns?: readonly ColumnInfo[];
}

/** Every problem of one stream's mapping; empty when it can run. */
export function checkStreamMapping(check: StreamCheck): ConfigProblem[] {
  const { stream, definition, path, columns } = check;
  const problems: ConfigProblem[] = [];

  for (const target of Object.keys(stream.fields)) {
    if (!fieldSchema(definition.jsonSchema, target)) {
      const parent = target.includes('.') ? fieldSchema(definition.jsonSchema, target.slice(0, target.lastIndexOf('.'))) : definition.jsonSchema;
      const known = Object.keys(parent?.properties ?? {});
      problems.push({
        path: `${path}.fields.${target}`,
        message: `"${target}" is not a field of schema "${definition.name}"${known.length > 0 ? ` (known here: ${known.join(', ')})` : ''}`,
      });
    }
  }
  // The mapper's own refusals (external id not mapped, conflicting targets, transform options).
  try {
    compileRecordMapper(check);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  if (columns) problems.push(...columnProblems(stream, path, columns));
  return problems;
}

/** Every column the stream names must be a column of its view. */
function columnProblems(stream: StreamConfig, path: string, columns: readonly ColumnInfo[]): ConfigProblem[] {
  const names = new Set(columns.map((c) => c.name));
  const named: [at: string, column: string][] = [['cursor', stream.cursor]];
  for (const [target, spec] of Object.entries(stream.fields)) {
    if (typeof spec === 'string') named.push([`fields.${target}`, spec]);
    else if ('column' in spec) named.push([`fields.${target}`, spec.column]);
  }
  stream.primary_key.forEach((column, i) => named.push([`primary_key[${i}]`, column]));
  if (stream.cursor_fallback) named.push(['cursor_fallback', stream.cursor_fallback]);
  for (const column of Object.keys(stream.filter ?? {})) named.push([`filter.${column}`, column]);
  if (stream.deleted) named.push(['deleted.column', stream.deleted.column]);
  return named.filter(([, column]) => !names.has(column)).map(([at, column]) => {
    // Identifiers are quoted, so case matters; a near miss is the usual cause.
    const nearMiss = columns.find((c) => c.name.toLowerCase() === column.toLowerCase());
    return {
      path: `${path}.${at}`,
      message: `column "${column}" is not in view ${stream.view}${nearMiss ? ` (did you mean "${nearMiss.name}"? names are case-sensitive)` : ''}`,
    };
  });
}
