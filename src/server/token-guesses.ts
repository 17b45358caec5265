/**
 * Guesses of the ops token, counted per client address, for the ops API's bearer check and
 * the console's login alike: after `max` wrong tokens within `windowMs`, the address is
 * answered 429 (with Retry-After) without its token being looked at, until the oldest counted
 * guess is older than the window. A request without a token is not a guess. Addresses are
 * forgotten oldest first past `maxAddresses`, so a guesser with many addresses cannot grow
 * the table without bound (each of them still gets `max` guesses per window, no more).
 */
export class TokenGuesses {
  /** Times of the recent wrong tokens, by address, oldest first; the map in the order addresses last guessed. */
  readonly #byAddress = new Map<string, number[]>();

  constructor(readonly max = 10, readonly windowMs = 60_000, readonly maxAddresses = 10_000) {}

  /** Seconds until `address` may present a token again; 0 when it may now. */
  retryAfterSeconds(address: string, now = Date.now()): number {
    const recent = this.#recent(address, now);
    return recent.length < this.max ? 0 : Math.max(1, Math.ceil((recent[0]! + this.windowMs - now) / 1000));
  }

  /** Counts a wrong token from `address`. */
  wrong(address: string, now = Date.now()): void {
    const recent = this.#recent(address, now);
    recent.push(now);
    this.#byAddress.delete(address);
    this.#byAddress.set(address, recent);
    while (this.#byAddress.size > this.maxAddresses) this.#byAddress.delete(this.#byAddress.keys().next().value!);
  }

  #recent(address: string, now: number): number[] {
    const recent = (this.#byAddress.get(address) ?? []).filter((at) => at > now - this.windowMs);
    if (recent.length === 0) this.#byAddress.delete(address);
    else this.#byAddress.set(address, recent);
    return recent;
  }
}
