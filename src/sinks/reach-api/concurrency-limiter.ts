/** Bounds work in flight per key (a tenant) and overall. */
export class ConcurrencyLimiter {
  readonly #perKey: number;
  readonly #overall: Semaphore;
  readonly #byKey = new Map<string, Semaphore>();

  constructor(perKey: number, overall: number) {
    this.#perKey = perKey;
    this.#overall = new Semaphore(overall);
  }

  /** Runs `fn` once a slot for `key` and an overall slot are free. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    let forKey = this.#byKey.get(key);
    if (!forKey) this.#byKey.set(key, (forKey = new Semaphore(this.#perKey)));
    // Always the key's slot first, then the overall one: one order, so no deadlock.
    await forKey.acquire();
    try {
      await this.#overall.acquire();
      try {
        return await fn();
      } finally {
        this.#overall.release();
      }
    } finally {
      forKey.release();
      // Forget idle keys so a long-lived client does not grow with every tenant it served.
      if (forKey.idle) this.#byKey.delete(key);
    }
  }
}

class Semaphore {
  readonly #size: number;
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(size: number) {
    this.#size = size;
    this.#free = size;
  }

  get idle(): boolean {
    return this.#free === this.#size && this.#waiting.length === 0;
  }

  async acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free -= 1;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  /** Hands the slot straight to the next waiter, or frees it. */
  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free += 1;
  }
}
