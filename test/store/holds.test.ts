/**
 * Holds on a PostgreSQL store: one holder per key across every process, given back by
 * release or by the death of the holder's session, and noticed by the holder when it goes.
 */
import { openStore } from '../../src/store/open-store.ts';
import { describe, expect, test } from '../fixture.ts';

describe('holds on a PostgreSQL store', () => {
  test('one holder per key, in this process and across processes; release frees it', async ({ lab }) => {
    const store = await lab.store();
    const other = (await lab.storeProcess(store)).store;
    const held = await store.holds.tryTake('stream a/b');
    expect(held).toBeDefined();
    // Advisory locks are re-entrant within a session: this process's own second take is refused all the same.
    expect(await store.holds.tryTake('stream a/b')).toBeUndefined();
    expect(await other.holds.tryTake('stream a/b')).toBeUndefined();
    expect(await other.holds.isHeld('stream a/b')).toBe(true);
    expect(await other.holds.tryTake('stream a/c')).toBeDefined();
    await held!.release();
    expect(await other.holds.isHeld('stream a/b')).toBe(false);
    expect(await other.holds.tryTake('stream a/b')).toBeDefined();
  });

  test('a holder whose session dies loses its holds at once, hears of it, and others take them', async ({ lab }) => {
    const store = await lab.store();
    const dyingProcess = await lab.storeProcess(store, 'dying');
    const dying = dyingProcess.store;
    const held = (await dying.holds.tryTake('backfill 7'))!;
    const lost = new Promise((resolve) => held.lost.addEventListener('abort', resolve, { once: true }));
    expect(await store.holds.tryTake('backfill 7')).toBeUndefined();
    await dyingProcess.endHoldsSession();
    await lost;
    expect(await store.holds.tryTake('backfill 7')).toBeDefined();
    // The dying process's next take opens a new session, and is refused: the key is held.
    expect(await dying.holds.tryTake('backfill 7')).toBeUndefined();
  });

  test('closing the store gives every hold back', async ({ lab }) => {
    const store = await lab.store();
    const closing = await openStore({ databaseUrl: store.url, migrate: false });
    await closing.holds.tryTake('source x slot 0');
    await closing.holds.tryTake('source x slot 1');
    await closing.close();
    expect(await store.holds.tryTake('source x slot 0')).toBeDefined();
    expect(await store.holds.tryTake('source x slot 1')).toBeDefined();
  });
});
