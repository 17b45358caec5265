/**
 * The master keys that seal stored secrets, from REACH_PULLER_MASTER_KEY:
 * - `BASE64` : one key (32 bytes); its id is a fingerprint, `k` + 8 hex digits of its SHA-256;
 * - `ID:BASE64,ID:BASE64,...` : the first key encrypts, every key decrypts. This is how a
 *   rotation runs: put the new key first, keep the old one behind it, run
 *   `reach-puller secret rotate-key`, then drop the old key.
 * Keys never leave the process: the store holds key ids only.
 */
import { createHash } from 'node:crypto';
import { PullerError } from '../errors.ts';

export const MASTER_KEY_ENV = 'REACH_PULLER_MASTER_KEY';
const KEY_ID = /^[A-Za-z0-9_.-]{1,32}$/;

export interface MasterKeys {
  /** Id of the key new secrets are sealed with. */
  currentId: string;
  /** Every key that may open a secret, by id. */
  keys: Map<string, Buffer>;
}

/** Parses the master key setting; errors name the entry by position, never its value. */
export function parseMasterKeys(text: string | undefined): MasterKeys {
  if (!text?.trim()) throw new PullerError('RP_SECRET_KEY', `${MASTER_KEY_ENV} is not set: stored secrets cannot be sealed or opened`);
  const keys = new Map<string, Buffer>();
  const entries = text.split(',').map((e) => e.trim());
  entries.forEach((entry, i) => {
    const colon = entry.indexOf(':');
    const encoded = colon < 0 ? entry : entry.slice(colon + 1);
    const key = Buffer.from(encoded, 'base64');
    const where = `${MASTER_KEY_ENV} entry ${i + 1}`;
    // Buffer.from ignores bad characters: a round trip proves the text was clean base64.
    if (key.length !== 32 || key.toString('base64') !== encoded.replace(/\s/g, '')) {
      throw new PullerError('RP_SECRET_KEY', `${where} is not the base64 of 32 bytes`);
    }
    const id = colon < 0 ? `k${createHash('sha256').update(key).digest('hex').slice(0, 8)}` : entry.slice(0, colon);
    if (!KEY_ID.test(id)) throw new PullerError('RP_SECRET_KEY', `${where}: key id must be 1-32 letters, digits, _ . or -`);
    if (keys.has(id)) throw new PullerError('RP_SECRET_KEY', `${where}: key id "${id}" is listed twice`);
    keys.set(id, key);
  });
  return { currentId: keys.keys().next().value!, keys };
}
