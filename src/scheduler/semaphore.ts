/** A counting semaphore: at most `limit` holders at once, the rest wait in order. */
export class Semaphore {
  private used = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  /** Runs `fn` once a slot is free. */
  async use<T>(fn: () => Promise<T>): Promise<T> {
    if (this.used < this.limit) this.used++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await fn();
    } finally {
      // Hand the slot straight to the next waiter, or free it.
      const next = this.waiting.shift();
      if (next) next();
      else this.used--;
    }
  }
}
