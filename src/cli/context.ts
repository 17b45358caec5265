/** What every command shares: the state store, opened on demand and closed at the end. */
import path from 'node:path';
import { PullerError, TransientError } from '../errors.ts';
import { embeddedStoreHolder } from '../store/embedded-store-lock.ts';
import type { Store } from '../store/open-store.ts';

/**
 * Runs `fn` with an open, migrated store and closes it afterwards. The embedded store is one
 * process's: while another process holds it the command is refused, and while `serve` does,
 * pointed at the ops API route `instead` names.
 */
export async function withStore<T>(fn: (store: Store) => Promise<T>, instead = 'the ops API (GET /openapi.json lists its routes)'): Promise<T> {
  // Loaded here, not with the command: the store's drivers are paid for by commands that run, not by --help.
  const { openStore, storeOptionsFromEnv } = await import('../store/open-store.ts');
  const options = storeOptionsFromEnv();
  let store: Store;
  try {
    store = await openStore(options);
  } catch (error) {
    if (!(error instanceof PullerError && error.code === 'RP_STORE_LOCKED')) throw error;
    const holder = await embeddedStoreHolder(path.resolve(options.home ?? './.reach-puller', 'store'));
    if (holder?.command !== 'serve') throw error;
    throw new PullerError('RP_STORE_LOCKED', `${error.message}; ask its ops API instead: ${instead}`);
  }
  try {
    return await fn(store);
  } catch (error) {
    throw storeFailure(error, store.location);
  } finally {
    await store.close();
  }
}

/**
 * A connection-level failure of the store (not the server's answer: lost, refused, timed out), named as
 * the store's, where the driver's words alone ("Query read timeout") would not say whose.
 */
function storeFailure(error: unknown, location: string): unknown {
  if (error instanceof PullerError || !(error instanceof Error)) return error;
  // The server's own errors carry a severity (and a SQLSTATE): those are the store answering.
  if (typeof (error as { severity?: unknown }).severity === 'string') return error;
  return new TransientError('RP_STORE_UNREACHABLE', `the state store ${location} did not answer: ${error.message}`, { cause: error });
}
