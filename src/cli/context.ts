/** What every command shares: the state store, opened on demand and closed at the end. */
import path from 'node:path';
import { PullerError } from '../errors.ts';
import { embeddedStoreHolder } from '../store/embedded-store-lock.ts';
import { openStore, storeOptionsFromEnv, type Store } from '../store/open-store.ts';

/**
 * Runs `fn` with an open, migrated store and closes it afterwards. The embedded store is one
 * process's: while another process holds it the command is refused, and while `serve` does,
 * pointed at the ops API route `instead` names.
 */
export async function withStore<T>(fn: (store: Store) => Promise<T>, instead = 'the ops API (GET /openapi.json lists its routes)'): Promise<T> {
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
  } finally {
    await store.close();
  }
}
