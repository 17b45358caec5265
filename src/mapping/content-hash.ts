/**
 * A fingerprint of a mapped record, so an unchanged row re-read by a lookback or a
 * backfill is not sent again. It hashes the record's JSON text as the sinks send it,
 * built once per row (`recordJson`): the mapper builds every record of a stream with
 * its fields in the same order, so the same content gives the same text. A changed
 * mapping may change that order; its rows are then sent once more, which is harmless.
 */
import crypto from 'node:crypto';

/** The hex digest of a text. The one-shot hash (Node >= 20.12) costs half of createHash().update().digest() per row. */
export const hexDigest: (algorithm: 'sha256' | 'md5', text: string) => string = typeof crypto.hash === 'function'
  ? (algorithm, text) => crypto.hash(algorithm, text, 'hex')
  : (algorithm, text) => crypto.createHash(algorithm).update(text).digest('hex');

/** The record as JSON text (undefined properties left out, as from a request body). */
export function recordJson(record: object): string {
  return JSON.stringify(record);
}

/** sha256 hex of a record's JSON text. */
export function contentHash(json: string): string {
  return hexDigest('sha256', json);
}
