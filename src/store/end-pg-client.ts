/**
 * Ends a node-postgres client within a bound. `end()` says goodbye and waits for the server
 * to close the connection, which a server that stopped answering never does; past the bound
 * the socket is dropped, and PostgreSQL frees the session (its advisory locks too) when it
 * notices: at once on a reset, after its TCP keepalive otherwise.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';

/** How long a goodbye to the store may take. */
export const STORE_GOODBYE_MS = 2_000;

export async function endPgClient(client: pg.Client): Promise<void> {
  if (!(await endsInTime(client.end()))) dropPgClient(client);
}

/** Whether `ending` settled within the goodbye bound. */
export function endsInTime(ending: Promise<unknown>): Promise<boolean> {
  return Promise.race([ending.then(() => true, () => true), sleep(STORE_GOODBYE_MS, false, { ref: false })]);
}

/** Drops a client's socket without a goodbye. */
export function dropPgClient(client: pg.Client | pg.PoolClient): void {
  (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
}
