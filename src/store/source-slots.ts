/**
 * A partner's `max_connections` across every replica: a scheduled run, a backfill chunk or a
 * command run by hand takes one of its source's numbered slots, a hold (store/holds.ts) that a dead replica
 * gives back with its connection. A source whose slots are all held is at its cap.
 */
import type { Kysely } from 'kysely';
import { PullerError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { RegisteredConnector } from './connector-registry.ts';
import { holdsOf, type Hold } from './holds.ts';
import type { StoreSchema } from './schema.ts';

/** Takes a free slot of the source, or undefined when all `cap` of them are held. */
export async function takeSourceSlot(db: Kysely<StoreSchema>, sourceId: string, cap: number): Promise<Hold | undefined> {
  const holds = holdsOf(db);
  for (let slot = 0; slot < cap; slot++) {
    const hold = await holds.tryTake(`source ${sourceId} slot ${slot}`);
    if (hold) return hold;
  }
  return undefined;
}

/** Waits for a free slot of the source (polling every `pollMs`); undefined when `signal` aborts first. */
export async function waitForSourceSlot(db: Kysely<StoreSchema>, sourceId: string, cap: number, signal: AbortSignal, pollMs = 500): Promise<Hold | undefined> {
  while (!signal.aborted) {
    const slot = await takeSourceSlot(db, sourceId, cap);
    if (slot) return slot;
    await new Promise<void>((resolve) => {
      // One listener per poll, removed with it: a wait of hours leaves nothing on the signal.
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, pollMs);
      signal.addEventListener('abort', done, { once: true });
    });
  }
  return undefined;
}

/** Where a one-off read of a source stands: in a slot its caller holds, or one to wait for. */
export interface SlotOptions {
  /** The caller holds a slot of the source for this work (the scheduler takes one per job). */
  held?: boolean;
  /** Stops the wait for a slot. */
  signal?: AbortSignal;
  /** Told once when every slot is held, so a command run by hand does not wait in silence. */
  log?: Logger;
}

const NEVER = new AbortController().signal;

/** What a connector says of its source's slots: which source, and its cap. */
type SlotConnector = Pick<RegisteredConnector, 'sourceId' | 'config'>;

/**
 * Runs `fn` in a slot of the source: the caller's (`held`), or one waited for here and given
 * back after it, so work started by hand (a CLI pull, preview, reconcile, retry, verify)
 * keeps a partner's `max_connections` beside the replicas' scheduled runs.
 */
export async function inSourceSlot<T>(db: Kysely<StoreSchema>, connector: SlotConnector, options: SlotOptions, fn: () => Promise<T>): Promise<T> {
  if (options.held) return fn();
  const { sourceId } = connector;
  const cap = connector.config.source.max_connections;
  let slot = await takeSourceSlot(db, sourceId, cap);
  if (!slot) {
    options.log?.info({ source: sourceId, maxConnections: cap }, 'waiting for a free slot of the source: other runs hold all of them');
    slot = await waitForSourceSlot(db, sourceId, cap, options.signal ?? NEVER);
  }
  if (!slot) throw new PullerError('RP_RUN_CANCELLED', `stopped while waiting for a free slot of source ${sourceId}`);
  try {
    return await fn();
  } finally {
    await slot.release();
  }
}
