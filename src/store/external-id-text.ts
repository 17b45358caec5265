/**
 * External ids read back from the state store exactly as they were sent. The embedded store
 * (PGlite) decodes every text it returns with a TextDecoder that drops a leading U+FEFF (a
 * byte-order mark), which a partner's id may begin with: read back bare, such an id names
 * another record. Lookups name the ids sent by their position; ids read in bulk or returned
 * by a write come back behind one character that carries any BOM through.
 */
import { sql, type RawBuilder } from 'kysely';

/** The id a result row stands for, by its position among the ids sent (`with ordinality`, from 1). */
export function byPosition(externalIds: readonly string[], n: string | number): string {
  const id = externalIds[Number(n) - 1];
  if (id === undefined) throw new Error(`the store answered for position ${n} of ${externalIds.length} ids`);
  return id;
}

/** A select list item reading an id column behind one character; `unguardId` gives the id back. */
export function guardedId(column = 'external_id'): RawBuilder<string> {
  return sql<string>`'.' || ${sql.ref(column)}`;
}

export function unguardId(guarded: string): string {
  return guarded.slice(1);
}
