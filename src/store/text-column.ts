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
  return sql<string[]>`string_to_array(${utf8Lines(values)}, E'\\n')`;
}

/**
 * The values as UTF-8 lines, written straight into one buffer. Both drivers send a Buffer
 * as the parameter's bytes, received as text (checked as UTF-8 by the server); a joined
 * string cost twice as much again to build and then to encode (a page's bodies are most of
 * a megabyte). A lone surrogate becomes U+FFFD, as the drivers encode a string.
 */
function utf8Lines(values: readonly string[]): Buffer {
  let chars = values.length;
  for (const value of values) chars += value.length;
  // A UTF-16 code unit takes at most three bytes of UTF-8.
  const lines = Buffer.allocUnsafe(chars * 3);
  let end = 0;
  for (let i = 0; i < values.length; i++) {
    if (i > 0) lines[end++] = NEWLINE;
    end += lines.write(values[i]!, end);
  }
  return lines.subarray(0, end);
}

const NEWLINE = 0x0a;

/** Flags as one text of `t` and `f`, split into characters (`string_to_array` with a null delimiter). */
export function flagColumn(values: readonly boolean[]): RawBuilder<boolean[]> {
  return sql<boolean[]>`string_to_array(${values.map((v) => (v ? 't' : 'f')).join('')}, null)::boolean[]`;
}
