/**
 * Work started one piece after another, each piece's result recorded in the order the pieces
 * started, whichever finishes first: verify compares a range of the view (reads of the store)
 * while it reads and judges the next, and a later finding of a record must win over an
 * earlier one, as when ranges are compared one by one.
 */
export class InOrder {
  /** The last piece's result recorded. */
  #recorded: Promise<void> = Promise.resolve();
  /** The last piece's work. */
  #working: Promise<unknown> = Promise.resolve();

  /**
   * Adds a piece already started: `work` resolves to the step that records its result.
   * Resolves once the piece before it is recorded (so at most one runs beside the caller),
   * and throws the first failure.
   */
  async add(work: Promise<() => void>): Promise<void> {
    // Awaited by the chain below; until then its failure must not count as unhandled.
    work.catch(() => undefined);
    this.#working = work;
    const before = this.#recorded;
    this.#recorded = before.then(async () => (await work)());
    this.#recorded.catch(() => undefined);
    await before;
  }

  /** Waits until the last piece is recorded; throws the first failure. */
  async drain(): Promise<void> {
    await this.#recorded;
  }

  /** Waits until no piece is left working, failed or not: a caller that fails leaves nothing running behind it. */
  async settle(): Promise<void> {
    await Promise.allSettled([this.#working, this.#recorded]);
  }
}
