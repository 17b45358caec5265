/**
 * Bounds on the store's connections, for a store that stops answering (a black-holed network,
 * a hung host, a failover that left old connections silent):
 *
 * - each statement's wait (REACH_PULLER_STORE_QUERY_TIMEOUT_MS, default 5 minutes, long enough
 *   for a migration): past it the connection is dropped, so the pool discards it. node-postgres's
 *   own `query_timeout` only rejects the query and leaves the client waiting for that answer,
 *   and the pool would hand every later statement to it;
 * - the goodbye: `end()` waits for the server to close the connection, which a silent server
 *   never does; past STORE_GOODBYE_MS the socket is dropped, and PostgreSQL frees the session
 *   (its advisory locks too) when it notices: at once on a reset, after its keepalive otherwise.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { withinBound } from '../bounded-wait.ts';
import { positiveEnv } from '../config/positive-env.ts';
import { TransientError } from '../errors.ts';

/** How long a goodbye to the store may take. */
export const STORE_GOODBYE_MS = 2_000;

export async function endPgClient(client: pg.Client): Promise<void> {
  if (!(await endsInTime(client.end()))) dropPgClient(client);
}

/** Whether `ending` settled within the goodbye bound. */
export function endsInTime(ending: Promise<unknown>): Promise<boolean> {
  return Promise.race([ending.then(() => true, () => true), sleep(STORE_GOODBYE_MS, false, { ref: false })]);
}

/** Drops a client's socket without waiting for a goodbye. */
export function dropPgClient(client: pg.Client | pg.PoolClient): void {
  // end() marks the client ending at once, so a pool it is released to discards it.
  client.end().catch(() => undefined);
  (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
}

/** Bounds every statement `client` runs from now on (the pool's clients, when they connect). */
export function boundStatements(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  const timeoutMs = positiveEnv('REACH_PULLER_STORE_QUERY_TIMEOUT_MS', 300_000);
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    const result = query(...args);
    // Callback and submittable forms are the caller's to time; Kysely uses the promise form.
    if (!(result instanceof Promise)) return result;
    return withinBound(result, timeoutMs, () => dropPgClient(client), () => new TransientError('RP_STORE_UNREACHABLE',
      `the state store did not answer within ${Math.round(timeoutMs / 1000)} s; the connection was closed`));
  };
}
