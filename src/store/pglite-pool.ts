/**
 * Makes an embedded PGlite database look like a node-postgres pool, so Kysely's own
 * PostgresDialect drives both stores and one code path serves both.
 * PGlite is a single session: connections are handed out one at a time (a mutex), so an
 * open transaction is never interleaved with another caller's statements.
 */
import type { PGlite } from '@electric-sql/pglite';
import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';

const WRITE_COMMAND = /^\s*(insert|update|delete|merge)\b/i;
const COMMIT = /^\s*commit\s*;?\s*$/i;
/** in_failed_sql_transaction: what any statement of an aborted transaction meets. */
const IN_FAILED_TRANSACTION = '25P02';

/**
 * PGlite's errors carry the failed statement's parameters (`params`, `queryOptions`): a page's
 * bodies and ids, which a logged error would write out whole, and a Buffer parameter
 * (store/text-column.ts) as a list of byte numbers that the log's scrubbing of known secret
 * values cannot see. They leave as node-pg's do: without them (the statement's text stays).
 */
function withoutParameters(error: unknown): never {
  if (error && typeof error === 'object') {
    delete (error as { params?: unknown }).params;
    delete (error as { queryOptions?: unknown }).queryOptions;
  }
  throw error;
}

/** A pg-Pool look-alike over one PGlite instance. */
export function pglitePool(db: PGlite): PostgresPool {
  let tail: Promise<void> = Promise.resolve();

  const client = (release: () => void): PostgresPoolClient => ({
    async query<R>(sql: unknown, parameters?: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>> {
      if (typeof sql !== 'string') throw new Error('The embedded store does not support cursors');
      if (COMMIT.test(sql)) {
        // The COMMIT of a transaction an error aborted rolls it back. PGlite does not return
        // the tag that says so (the server's `ROLLBACK`), which Kysely turns into an
        // AbortedTransactionError: without it such a transaction (an error caught inside it,
        // store/new-rows.ts) would pass for committed. Any statement there meets 25P02.
        const aborted = await db.query('select 1').then(() => false, (error: { code?: unknown }) => {
          if (error.code === IN_FAILED_TRANSACTION) return true;
          throw error;
        });
        await db.exec(sql);
        return { command: aborted ? 'ROLLBACK' : 'COMMIT', rowCount: 0, rows: [] };
      }
      // Without parameters use the simple protocol, which (like node-pg's) runs several statements.
      const result = parameters?.length
        ? await db.query<R>(sql, parameters as unknown[]).catch(withoutParameters)
        : ((await db.exec(sql)).at(-1) as Awaited<ReturnType<typeof db.query<R>>>);
      const command = WRITE_COMMAND.exec(sql)?.[1]?.toUpperCase() as PostgresQueryResult<R>['command'] | undefined;
      return { command: command ?? 'SELECT', rowCount: result.affectedRows ?? result.rows.length, rows: result.rows };
    },
    release,
  }) as PostgresPoolClient;

  return {
    connect() {
      let release!: () => void;
      const mine = new Promise<void>((resolve) => (release = resolve));
      const ready = tail.then(() => client(release));
      tail = tail.then(() => mine);
      return ready;
    },
    async end() {
      await tail;
      await db.close();
    },
  };
}
