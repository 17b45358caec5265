/**
 * External ids read back from the state store exactly as they were sent. The embedded store
 * (PGlite) decodes every text it returns with a TextDecoder that drops a leading U+FEFF (a
 * byte-order mark), which a partner's id may begin with: read back bare, such an id names
 * another record. Every id read back comes behind one character that carries any BOM through.
 */
import { sql, type RawBuilder } from 'kysely';

/** A select list item reading an id column behind one character; `unguardId` gives the id back. */
export function guardedId(column = 'external_id'): RawBuilder<string> {
  return sql<string>`'.' || ${sql.ref(column)}`;
}

export function unguardId(guarded: string): string {
  return guarded.slice(1);
}
