/**
 * SIGINT / SIGTERM: the work in progress is aborted and stops after its current page, with
 * its checkpoint committed, instead of dying mid-page.
 *
 * A partner or Reach that stops answering could hold that page for minutes, so the stop is
 * bounded: REACH_PULLER_SHUTDOWN_SECONDS (default 30) after the signal, or at a second
 * signal, the process exits with EXIT.abandoned and says what it abandoned. Nothing is lost
 * by it: an abandoned page committed no checkpoint, so the next run reads it again; the
 * stream holds end with the process's store connections; Reach sends it left unanswered are
 * settled by the next run from Reach's own account.
 */
import { positiveEnv } from '../config/positive-env.ts';
import { logger } from '../log.ts';
import { EXIT } from './output.ts';

/** How long a stop may take after the signal before in-flight work is abandoned. */
export function shutdownBoundMs(): number {
  return positiveEnv('REACH_PULLER_SHUTDOWN_SECONDS', 30) * 1000;
}

/**
 * Arms the bound after a first signal: past it, or at the next signal, the process exits
 * naming `inFlight()`. Returns the disarm for a stop that finished in time.
 */
export function boundShutdown(inFlight: () => string[]): () => void {
  const abandon = (why: string) => {
    const abandoned = inFlight();
    logger().error({ abandoned, why }, 'stopping took too long: abandoning in-flight work without its checkpoints; the next run reads it again');
    process.exit(EXIT.abandoned);
  };
  const timer = setTimeout(() => abandon(`not stopped within ${shutdownBoundMs() / 1000} s of the signal`), shutdownBoundMs());
  timer.unref();
  const again = () => abandon('a second signal');
  process.once('SIGINT', again);
  process.once('SIGTERM', again);
  return () => {
    clearTimeout(timer);
    process.off('SIGINT', again);
    process.off('SIGTERM', again);
  };
}

/** Runs `fn` with a signal aborted by SIGINT / SIGTERM; the stop is bounded (see above), naming `inFlight`. */
export async function cancelOnSignals<T>(fn: (signal: AbortSignal) => Promise<T>, inFlight: () => string[]): Promise<T> {
  const controller = new AbortController();
  let disarm = () => {};
  const abort = () => {
    controller.abort();
    disarm = boundShutdown(inFlight);
  };
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  try {
    return await fn(controller.signal);
  } finally {
    process.off('SIGINT', abort);
    process.off('SIGTERM', abort);
    disarm();
  }
}
