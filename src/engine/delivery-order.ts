/**
 * One delivery order for every record, as a pure decision: given a record just read, what
 * Reach holds for it (the `delivered` entry) and a send of it that Reach has not confirmed
 * yet (another run's claim, or an earlier page's), what may happen now.
 *
 * Versions are the row's cursor as sortable text (watermark.ts `versionKey`): a read never
 * replaces a newer one, whoever read it and whenever it lands. A delete is remembered with
 * its version even when nothing was delivered before, so an older read cannot bring the
 * record back.
 */
import type { DeliveredEntry } from '../store/delivery-state.ts';

/**
 * - send: deliver it (upsert or delete).
 * - bump: Reach holds this content already; remember the newer version (the built-in store
 *   writes it, to move its own version guard).
 * - tombstone: a delete of a record Reach never received: nothing to remove, but remember it.
 * - unchanged: Reach holds exactly this.
 * - stale: Reach holds (or is being sent) a newer version.
 * - wait: an older send of the record is unconfirmed; decide again once it is.
 */
export type Verdict = 'send' | 'bump' | 'tombstone' | 'unchanged' | 'stale' | 'wait';

/** The verdict for `read`, given what is delivered and what is in flight for the same external id. */
export function decide(read: DeliveredEntry, delivered: DeliveredEntry | undefined, inFlight?: DeliveredEntry): Verdict {
  // A newer send in flight makes this read obsolete. Any other (even of the same content: Reach
  // may still fail it) is waited for, and this read decided against what it settles to.
  if (inFlight) return inFlight.version > read.version ? 'stale' : 'wait';
  if (!delivered) return read.deleted ? 'tombstone' : 'send';
  if (delivered.version > read.version) return 'stale';
  if (sameContent(delivered, read)) return delivered.version === read.version ? 'unchanged' : 'bump';
  return 'send';
}

function sameContent(a: DeliveredEntry, b: DeliveredEntry): boolean {
  return a.deleted === b.deleted && a.contentHash === b.contentHash;
}

/** Whether a verdict changes what `delivered` remembers. */
export function recorded(verdict: Verdict): boolean {
  return verdict === 'send' || verdict === 'bump' || verdict === 'tombstone';
}
