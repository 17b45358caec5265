/**
 * A fingerprint of a mapped record, so an unchanged row re-read by a lookback or a
 * backfill is not sent again. It hashes the record's JSON text as the sinks send it,
 * built once per row (`recordJson`): the mapper builds every record of a stream with
 * its fields in the same order, so the same content gives the same text. A changed
 * mapping may change that order; its rows are then sent once more, which is harmless.
 */
import crypto from 'node:crypto';

// The one-shot hash (Node >= 20.12) costs half of createHash().update().digest() per row.
const sha256Hex: (text: string) => string = typeof crypto.hash === 'function'
  ? (text) => crypto.hash('sha256', text, 'hex')
  : (text) => crypto.createHash('sha256').update(text).digest('hex');

/** The record as JSON text (undefined properties left out, as from a request body). */
export function recordJson(record: object): string {
  return JSON.stringify(record);
}

/** sha256 hex of a record's JSON text. */
export function contentHash(json: string): string {
  return sha256Hex(json);
}
