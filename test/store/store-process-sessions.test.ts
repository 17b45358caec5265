/**
 * Found in review: `lab.storeProcess` ended "its" sessions by `application_name like '<name>%'`,
 * where `<name>` ends in the file's counter. The process named `…-proc1` is a prefix of
 * `…-proc10`..`…-proc19` (and `_` in `what` is a LIKE wildcard): ending one process's
 * sessions ends another's too, the very thing the change meant to rule out.
 */
import { describe, expect, test } from '../fixture.ts';

describe('lab.storeProcess ends only its own sessions', () => {
  test('ending one process\'s sessions leaves the holds of another process of the same run', async ({ lab }) => {
    const store = await lab.store();
    const dying = await lab.storeProcess(store, 'p');
    // Bring the file's counter to ten times the dying process's number (p1 -> p10, p2 -> p20, …).
    const n = Number(/\d+$/.exec(lab.unique('n'))![0]) - 1;
    while (Number(/\d+$/.exec(lab.unique('n'))![0]) < n * 10 - 1);
    const living = await lab.storeProcess(store, 'p');
    const held = (await living.store.holds.tryTake('review s6 key'))!;
    expect(held).toBeDefined();
    const lost = new Promise((resolve) => held.lost.addEventListener('abort', () => resolve('lost'), { once: true }));
    await dying.endSessions();
    // The living process still holds its key: nobody else may take it.
    expect(await Promise.race([lost, new Promise((resolve) => setTimeout(() => resolve('kept'), 1000))])).toBe('kept');
    expect(await store.holds.tryTake('review s6 key')).toBeUndefined();
  });
});
