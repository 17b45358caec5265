/**
 * Backfills that `serve` runs in the background: started or resumed through the ops API,
 * interrupted ones picked up at start-up, all stopped after their current page on shutdown
 * (their checkpoints stay, so the next `serve` or `backfill --resume` continues them).
 */
import type { Logger } from '../log.ts';
import type { StateStore } from '../sinks/sink.ts';
import type { RuntimeEnv } from '../engine/connector-runtime.ts';
import {
  resumableBackfills, resumeBackfill, startBackfill, type BackfillHandle, type BackfillRequest,
} from './run-backfill.ts';

export class BackgroundBackfills {
  readonly #running = new Map<string, Promise<unknown>>();
  readonly #stop = new AbortController();

  constructor(private readonly deps: { store: StateStore; log: Logger; runtime?: RuntimeEnv }) {}

  /** Plans and starts a backfill; resolves with its id once planned. */
  async start(request: BackfillRequest): Promise<string> {
    return this.#track(await startBackfill(this.#deps(), request));
  }

  /** Continues an interrupted, failed or cancelled backfill. */
  async resume(id: string): Promise<string> {
    return this.#track(await resumeBackfill(this.#deps(), id));
  }

  /** Resumes every interrupted or failed backfill (another replica may win one: that is fine). */
  async resumeInterrupted(): Promise<string[]> {
    const resumed: string[] = [];
    for (const id of await resumableBackfills(this.deps.store)) {
      try {
        resumed.push(await this.resume(id));
      } catch (error) {
        this.deps.log.warn({ backfill: id, err: error }, 'backfill not resumed here');
      }
    }
    return resumed;
  }

  /** Ids of backfills running in this process. */
  running(): string[] {
    return [...this.#running.keys()];
  }

  /** Stops every backfill after its current page and waits for them. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await Promise.allSettled(this.#running.values());
  }

  #deps() {
    return { ...this.deps, signal: this.#stop.signal };
  }

  #track(handle: BackfillHandle): string {
    const done = handle.done.then(
      (p) => this.deps.log.info({ backfill: handle.id, state: p.state, rows: p.rowsDone }, 'backfill ended'),
      (error: unknown) => this.deps.log.error({ backfill: handle.id, err: error }, 'backfill failed'),
    ).finally(() => this.#running.delete(handle.id));
    this.#running.set(handle.id, done);
    return handle.id;
  }
}
