/**
 * Holds on a PostgreSQL store: one holder per key across every process, given back by
 * release or by the death of the holder's session, and noticed by the holder when it goes.
 */
import { sql } from 'kysely';
import { openStore } from '../../src/store/open-store.ts';
import { describe, expect, test } from '../fixture.ts';

describe('holds on a PostgreSQL store', () => {
  test('one holder per key, in this process and across processes; release frees it', async ({ lab }) => {
    const store = await lab.store();
    const other = await openStore({ databaseUrl: `${store.url}?application_name=rp-holds-other`, migrate: false });
    try {
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
    } finally {
      await other.close();
    }
  });

  test('a holder whose session dies loses its holds at once, hears of it, and others take them', async ({ lab }) => {
    const store = await lab.store();
    const dying = await openStore({ databaseUrl: `${store.url}?application_name=rp-holds-dying`, migrate: false });
    try {
      const held = (await dying.holds.tryTake('backfill 7'))!;
      const lost = new Promise((resolve) => held.lost.addEventListener('abort', resolve, { once: true }));
      expect(await store.holds.tryTake('backfill 7')).toBeUndefined();
      await sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'rp-holds-dying holds'`.execute(store.db);
      await lost;
      expect(await store.holds.tryTake('backfill 7')).toBeDefined();
      // The dying process's next take opens a new session, and is refused: the key is held.
      expect(await dying.holds.tryTake('backfill 7')).toBeUndefined();
    } finally {
      await dying.close();
    }
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
