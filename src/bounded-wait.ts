/**
 * A wait on a server with a bound the puller sets itself: a server (or the network to it)
 * that stops answering never answers, and no timeout of its own can fire. Past the bound the
 * caller's `giveUp` closes what the wait is on, so the connection is not used again.
 */

/**
 * `thenable`, unless it has not settled within `ms`: then `giveUp` runs (its late answer or
 * error is dropped) and the wait fails with `failure()`.
 */
export async function withinBound<T>(thenable: PromiseLike<T>, ms: number, giveUp: () => void, failure: () => Error): Promise<T> {
  // Once: a knex query runs again at every `then` it is given.
  const work = Promise.resolve(thenable);
  let timer: NodeJS.Timeout | undefined;
  const silent = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      giveUp();
      reject(failure());
    }, ms);
  });
  work.catch(() => undefined);
  try {
    return await Promise.race([work, silent]);
  } finally {
    clearTimeout(timer);
  }
}
