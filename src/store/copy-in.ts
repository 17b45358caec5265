/**
 * `COPY ... FROM STDIN` inside a Kysely transaction, on either store. Kysely hands a statement
 * to its connection's client as (sql, parameters) and has no COPY of its own; a `CopyIn` as the
 * only parameter asks the client to run the statement as a COPY with the parameter's text as
 * its data: pg-copy-streams on PostgreSQL (`acceptCopyIn`), a blob on PGlite (pglite-pool.ts).
 * The data goes in COPY's text format: PostgreSQL parses it without per-element array syntax,
 * and the puller builds it without escaping all but the rare value.
 */
import { finished } from 'node:stream/promises';
import { CompiledQuery, type Transaction } from 'kysely';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

/** The data of a COPY FROM STDIN, in COPY's text format. */
export class CopyIn {
  constructor(readonly data: string) {}
}

/** A field: text, a boolean, or null (NULL). */
export type CopyField = string | boolean | null;

const SPECIAL = /[\\\n\r\t]/;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function field(value: CopyField): string {
  if (value === null) return '\\N';
  if (typeof value === 'boolean') return value ? 't' : 'f';
  return SPECIAL.test(value) ? value.replace(/[\\\n\r\t]/g, (c) => ESCAPES[c]!) : value;
}

/** Copies `rows` into `table`'s `columns` in the caller's transaction. */
export async function copyRows<DB>(trx: Transaction<DB>, table: string, columns: readonly string[], rows: readonly (readonly CopyField[])[]): Promise<void> {
  let data = '';
  for (const row of rows) {
    for (let i = 0; i < row.length; i++) data += i === 0 ? field(row[i]!) : `\t${field(row[i]!)}`;
    data += '\n';
  }
  await trx.executeQuery(CompiledQuery.raw(`copy ${table} (${columns.join(', ')}) from stdin`, [new CopyIn(data)]));
}

/** Lets a node-postgres client run statements whose parameter is a `CopyIn` (call before any other wrapper of `query`). */
export function acceptCopyIn(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    const parameters = args[1];
    if (Array.isArray(parameters) && parameters[0] instanceof CopyIn) return copyInto(query, args[0] as string, parameters[0].data);
    return query(...args);
  };
}

async function copyInto(query: (...args: unknown[]) => unknown, text: string, data: string): Promise<{ command: string; rowCount: number; rows: [] }> {
  const stream = query(copyFrom(text)) as ReturnType<typeof copyFrom>;
  stream.end(data);
  await finished(stream);
  return { command: 'COPY', rowCount: stream.rowCount, rows: [] };
}
