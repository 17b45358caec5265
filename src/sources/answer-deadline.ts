/**
 * How long the puller waits for a partner's answer before it closes the connection itself.
 *
 * `statement_timeout_seconds` is enforced by the partner's server, which cannot enforce it
 * when it, or the network to it, has gone silent: a half-open connection waits forever. So
 * every wait on a session (a statement, the next chunk of a scan, the closing rollback) is
 * bounded here too, a margin above the server's own limit, so the server's clearer error
 * comes first whenever the server is still talking.
 */
import { positiveEnv } from '../config/positive-env.ts';
import { TransientError } from '../errors.ts';


/** Idle time before TCP keepalive probes start on a partner connection. */
export const KEEPALIVE_DELAY_MS = 30_000;

/** The client-side bound of one wait on a partner session. */
export function answerDeadlineMs(statementTimeoutSeconds: number): number {
  // The margin beyond the partner's own limit; REACH_PULLER_ANSWER_MARGIN_MS overrides it (tests).
  return statementTimeoutSeconds * 1000 + positiveEnv('REACH_PULLER_ANSWER_MARGIN_MS', 15_000);
}

/**
 * `work`, unless no answer comes within `ms`: then `close` ends the connection (whose late
 * answer or error is dropped) and the wait fails with RP_SOURCE_TIMEOUT, a transient error.
 */
export async function withinAnswerDeadline<T>(thenable: PromiseLike<T>, ms: number, close: () => void, subject: string): Promise<T> {
  // Once: a knex query runs again at every `then` it is given.
  const work = Promise.resolve(thenable);
  let timer: NodeJS.Timeout | undefined;
  const silent = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      close();
      reject(new TransientError('RP_SOURCE_TIMEOUT',
        `${subject}: no answer within ${Math.round(ms / 1000)} s (statement_timeout_seconds plus a margin); the connection was closed`));
    }, ms);
  });
  work.catch(() => undefined);
  try {
    return await Promise.race([work, silent]);
  } finally {
    clearTimeout(timer);
  }
}
