/**
 * A stable fingerprint of a mapped record, so an unchanged row re-read by a lookback or
 * a backfill is not sent again. Object keys are sorted, so key order never matters;
 * everything else follows JSON.stringify (undefined properties are left out, as they are
 * from the request body). Runs for every row: one string is built and hashed once.
 */
import crypto from 'node:crypto';

// The one-shot hash (Node >= 20.12) costs half of createHash().update().digest() per row.
const sha256Hex: (text: string) => string = typeof crypto.hash === 'function'
  ? (text) => crypto.hash('sha256', text, 'hex')
  : (text) => crypto.createHash('sha256').update(text).digest('hex');

/** sha256 hex of the record's canonical JSON (sorted keys). */
export function contentHash(record: unknown): string {
  return sha256Hex(canonicalJson(record));
}

function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i > 0 ? ',' : '') + canonicalJson(value[i]);
    return `${out}]`;
  }
  const object = value as Record<string, unknown>;
  let out = '{';
  for (const key of Object.keys(object).sort()) {
    const item = object[key];
    if (item === undefined) continue;
    out += `${out.length > 1 ? ',' : ''}${JSON.stringify(key)}:${canonicalJson(item)}`;
  }
  return `${out}}`;
}
