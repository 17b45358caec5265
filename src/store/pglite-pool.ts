/**
 * Makes an embedded PGlite database look like a node-postgres pool, so Kysely's own
 * PostgresDialect drives both stores and one code path serves both.
 * PGlite is a single session: connections are handed out one at a time (a mutex), so an
 * open transaction is never interleaved with another caller's statements.
 */
import type { PGlite } from '@electric-sql/pglite';
import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';

const WRITE_COMMAND = /^\s*(insert|update|delete|merge)\b/i;

/** A pg-Pool look-alike over one PGlite instance. */
export function pglitePool(db: PGlite): PostgresPool {
  let tail: Promise<void> = Promise.resolve();

  const client = (release: () => void): PostgresPoolClient => ({
    async query<R>(sql: unknown, parameters?: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>> {
      if (typeof sql !== 'string') throw new Error('The embedded store does not support cursors');
      // Without parameters use the simple protocol, which (like node-pg's) runs several statements.
      const result = parameters?.length
        ? await db.query<R>(sql, parameters as unknown[])
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
