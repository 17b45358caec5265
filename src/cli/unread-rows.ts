/**
 * Rows a pull counts but cannot read, and what each count tells an operator: `pull`,
 * `test`, `status` and `runs` print these hints beside the counts that are not zero.
 */
import { FUTURE_CURSOR_HINT } from '../engine/watermark.ts';

/** The counts, as a run records them (docs/incremental-pulls.md). */
export interface UnreadCounts {
  /** The cursor (and its fallback) is NULL. */
  nullCursor: number;
  /** The cursor is set but a primary-key column is NULL. */
  nullKey: number;
  /** The cursor is ahead of the partner clock by more than the settle window; absent for integer cursors. */
  futureCursor?: number;
}

export const NULL_CURSOR_HINT =
  'rows whose cursor is NULL cannot be ordered and are not pulled: set `cursor_fallback` (a creation time) or ask the partner to fill the cursor';

export const NULL_KEY_HINT =
  'rows with a NULL primary-key column have no position and are not pulled: name key columns that are never NULL in `primary_key`, or ask the partner to fill them';

/** One line per count that is not zero: the count's name and number, then what it means. */
export function unreadHints(counts: UnreadCounts): string[] {
  const hints: string[] = [];
  if (counts.futureCursor) hints.push(`future_cursor ${counts.futureCursor}: ${FUTURE_CURSOR_HINT}`);
  if (counts.nullKey) hints.push(`null_key ${counts.nullKey}: ${NULL_KEY_HINT}`);
  if (counts.nullCursor) hints.push(`null_cursor ${counts.nullCursor}: ${NULL_CURSOR_HINT}`);
  return hints;
}
