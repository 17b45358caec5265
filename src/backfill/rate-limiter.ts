/**
 * Caps the rows read per second across every chunk of a backfill, so a partner database is
 * not hammered. Each caller reserves the next free time slot for its rows and waits until
 * it starts: over any stretch, rows taken stay within rate x elapsed + one page.
 */
export class RateLimiter {
  readonly #rowsPerSecond: number;
  #next = 0;

  constructor(rowsPerSecond: number) {
    if (!(rowsPerSecond > 0)) throw new Error(`rows per second must be positive, got ${rowsPerSecond}`);
    this.#rowsPerSecond = rowsPerSecond;
  }

  /** Waits until `rows` more rows fit under the rate; resolves at once when aborted. */
  async take(rows: number, signal?: AbortSignal): Promise<void> {
    const now = performance.now();
    const start = Math.max(now, this.#next);
    this.#next = start + (rows * 1000) / this.#rowsPerSecond;
    const wait = start - now;
    if (wait <= 0 || signal?.aborted) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, wait);
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
