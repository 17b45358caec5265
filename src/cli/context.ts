/** What every command shares: the state store, opened on demand and closed at the end. */
import { openStore, storeOptionsFromEnv, type Store } from '../store/open-store.ts';

/** Runs `fn` with an open, migrated store and closes it afterwards. */
export async function withStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(storeOptionsFromEnv());
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
