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
import { withinBound } from '../bounded-wait.ts';


/** Idle time before TCP keepalive probes start on a partner connection. */
export const KEEPALIVE_DELAY_MS = 30_000;

/** The client-side bound of one wait on a partner session. */
export function answerDeadlineMs(statementTimeoutSeconds: number): number {
  // The margin beyond the partner's own limit; REACH_PULLER_ANSWER_MARGIN_MS overrides it (tests).
  return statementTimeoutSeconds * 1000 + positiveEnv('REACH_PULLER_ANSWER_MARGIN_MS', 15_000);
}

/** A wait on a partner session within its answer deadline: past it `close` ends the connection and the wait fails RP_SOURCE_TIMEOUT (transient). */
export function withinAnswerDeadline<T>(thenable: PromiseLike<T>, ms: number, close: () => void, subject: string): Promise<T> {
  return withinBound(thenable, ms, close, () => new TransientError('RP_SOURCE_TIMEOUT',
    `${subject}: no answer within ${Math.round(ms / 1000)} s (statement_timeout_seconds plus a margin); the connection was closed`));
}
