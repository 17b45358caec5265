/**
 * An operator's reset of a stream (`reset`, the console): move its watermark, forget what it
 * delivered, or release its delivery target. It holds the stream like a pull, so a running
 * pull's next checkpoint cannot undo it.
 */
import type { Kysely } from 'kysely';
import { PullerError } from '../errors.ts';
import type { Position } from '../interfaces.ts';
import type { Logger } from '../log.ts';
import { loadWatermark, saveWatermark, type StreamRef } from '../store/delivery-state.ts';
import { holdsOf } from '../store/holds.ts';
import { streamHoldKey } from '../store/run-records.ts';
import type { StoreSchema } from '../store/schema.ts';
import { forgetDelivered, forgetTarget } from './stream-identity.ts';

/**
 * What to reset: the watermark to a position (none: the beginning), everything delivered, or
 * the target only. `expected`: apply only if the watermark is still there (null: none), the
 * position a confirmation showed; a run that moved it since makes the reset RP_WATERMARK_MOVED.
 */
export type ResetRequest = { mode: 'watermark'; to?: Position; expected?: Position | null } | { mode: 'forget-delivered' } | { mode: 'target-moved' };

/** Applies the reset; answers the watermark before and after (equal for `target-moved`). */
export async function resetStream(db: Kysely<StoreSchema>, ref: StreamRef, request: ResetRequest, log: Logger): Promise<{ before?: Position; after?: Position }> {
  const hold = await holdsOf(db).tryTake(streamHoldKey(ref));
  if (!hold) throw new PullerError('RP_STREAM_BUSY', `stream ${ref.connectorId}/${ref.stream} is running; reset it once the run has ended`);
  const where = { connector: ref.connectorId, stream: ref.stream };
  try {
    if (request.mode === 'target-moved') {
      await forgetTarget(db, ref);
      log.warn(where, 'delivery target released by operator: the next run records its own');
      const at = await loadWatermark(db, ref);
      return { before: at, after: at };
    }
    if (request.mode === 'forget-delivered') {
      const before = await loadWatermark(db, ref);
      await forgetDelivered(db, ref);
      log.warn(where, 'delivery record forgotten by operator: every row is delivered again');
      return { before };
    }
    return await db.transaction().execute(async (trx) => {
      const before = await loadWatermark(trx, ref);
      if (request.expected !== undefined && formatPosition(before) !== formatPosition(request.expected ?? undefined)) {
        throw new PullerError('RP_WATERMARK_MOVED', `the watermark of ${ref.connectorId}/${ref.stream} is ${formatPosition(before)} now, ` +
          `not ${formatPosition(request.expected ?? undefined)} as the confirmation showed; nothing was changed`);
      }
      await saveWatermark(trx, ref, request.to);
      log.warn({ ...where, before: before ?? null, after: request.to ?? null }, 'watermark reset by operator');
      return { before, after: request.to };
    });
  } finally {
    await hold.release();
  }
}

/** A position as operators read it: `cursor ["key"]`, or `(beginning)`. */
export function formatPosition(p: Position | undefined): string {
  return p ? `${p.cursor} ${JSON.stringify(p.key)}` : '(beginning)';
}

/** A position's key as operators type it: a JSON array of strings; `name` is the flag or field, for the error. */
export function parseKey(text: string, name: string): string[] {
  try {
    const key: unknown = JSON.parse(text);
    if (Array.isArray(key) && key.every((k) => typeof k === 'string')) return key;
  } catch {
    // reported below
  }
  throw new PullerError('RP_CONFIG_INVALID', `${name} must be a JSON array of strings, like '["42"]'`);
}
