/**
 * InOrder (src/engine/in-order.ts), what verify's ranges rely on: results are recorded in the
 * order the work started, whichever finishes first; a failure stops what comes after it and
 * is thrown; `settle` returns only once no work is left running.
 */
import { describe, expect, it } from 'vitest';
import { InOrder } from '../../src/engine/in-order.ts';

/** A piece of work finished from outside: `done(name)` resolves it to a step recording `name`. */
function piece(recorded: string[]) {
  let finish!: (step: () => void) => void;
  let fail!: (error: Error) => void;
  const work = new Promise<() => void>((resolve, reject) => { finish = resolve; fail = reject; });
  return { work, done: (name: string) => finish(() => recorded.push(name)), fail };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

/** Two pieces added in turn, neither finished yet. */
async function twoPieces() {
  const recorded: string[] = [];
  const order = new InOrder();
  const first = piece(recorded);
  const second = piece(recorded);
  await order.add(first.work);
  return { recorded, order, first, second, added: order.add(second.work) };
}

describe('InOrder', () => {
  it('records a later piece that finished first only after the one before it', async () => {
    const { recorded, order, first, second, added } = await twoPieces();
    second.done('second');
    await turn();
    expect(recorded).toEqual([]);
    first.done('first');
    await added;
    await order.drain();
    expect(recorded).toEqual(['first', 'second']);
  });

  it('a failure is thrown, nothing after it is recorded, and settle waits for the work still running', async () => {
    const { recorded, order, first, second, added } = await twoPieces();
    first.fail(new Error('store gone'));
    await expect(added).rejects.toThrow('store gone');
    let settled = false;
    const settling = order.settle().then(() => (settled = true));
    await turn();
    expect(settled).toBe(false);
    second.done('second');
    await settling;
    expect(recorded).toEqual([]);
    await expect(order.drain()).rejects.toThrow('store gone');
  });
});
