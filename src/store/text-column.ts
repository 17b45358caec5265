/**
 * A column of text values for `unnest(...)` in a bulk statement. The pg driver sends a JS
 * array as an array literal, escaping every element; for values without newlines (JSON
 * text, hashes, cursor versions, external ids) one text joined at newlines, split by the server, costs
 * the puller nothing per element.
 */
import { sql, type RawBuilder } from 'kysely';

export function textColumn(values: readonly string[]): RawBuilder<string[]> {
  // '' as an element, or a newline inside one, would not survive the split.
  if (values.some((v) => v === '' || v.includes('\n'))) return sql<string[]>`${values}::text[]`;
  return sql<string[]>`string_to_array(${values.join('\n')}, E'\\n')`;
}
