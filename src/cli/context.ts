/** What every command shares: the state store, opened on demand and closed at the end. */
import { refuseWhileServing } from '../scheduler/serve-lock.ts';
import { openStore, storeOptionsFromEnv, type Store } from '../store/open-store.ts';

/**
 * Runs `fn` with an open, migrated store and closes it afterwards. The embedded store is one
 * process's: while `serve` holds it, commands are refused and pointed at the ops API route
 * `instead` names.
 */
export async function withStore<T>(fn: (store: Store) => Promise<T>, instead = 'the ops API (GET /openapi.json lists its routes)'): Promise<T> {
  const options = storeOptionsFromEnv();
  await refuseWhileServing(options, instead);
  const store = await openStore(options);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
