/**
 * Columns of values for `unnest(...)` in a bulk statement. The pg driver sends a JS array
 * as an array literal, quoting and escaping every element in strings of their own (half a
 * kilobyte of garbage per record for two columns of flags); one text split by the server
 * costs the puller nothing per element.
 */
import { sql, type RawBuilder } from 'kysely';

/** Text values without newlines (JSON text, hashes, cursor versions, external ids): one text joined at newlines. */
export function textColumn(values: readonly string[]): RawBuilder<string[]> {
  // '' as an element, or a newline inside one, would not survive the split.
  if (values.some((v) => v === '' || v.includes('\n'))) return sql<string[]>`${values}::text[]`;
  return sql<string[]>`string_to_array(${values.join('\n')}, E'\\n')`;
}

/** Flags as one text of `t` and `f`, split into characters (`string_to_array` with a null delimiter). */
export function flagColumn(values: readonly boolean[]): RawBuilder<boolean[]> {
  return sql<boolean[]>`string_to_array(${values.map((v) => (v ? 't' : 'f')).join('')}, null)::boolean[]`;
}
