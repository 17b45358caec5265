/**
 * SIGINT / SIGTERM during a command: abort the work in progress so it stops after the
 * current page, with its checkpoint committed, instead of dying mid-page.
 */
export async function cancelOnSignals<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const abort = () => controller.abort();
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  try {
    return await fn(controller.signal);
  } finally {
    process.off('SIGINT', abort);
    process.off('SIGTERM', abort);
  }
}
