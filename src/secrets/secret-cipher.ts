/**
 * AES-256-GCM sealing of one secret: a random 12-byte nonce per encryption, the key id kept
 * beside the ciphertext, and the secret's name bound as associated data so a sealed value
 * moved onto another name (or tampered with) fails to open instead of decrypting.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { PullerError } from '../errors.ts';
import { MASTER_KEY_ENV, type MasterKeys } from './master-key.ts';

export interface SealedSecret {
  keyId: string;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
  authTag: Uint8Array;
}

const ALGORITHM = 'aes-256-gcm';
// Versioned, so a future format can never be confused with this one.
const aad = (name: string) => Buffer.from(`reach-puller/secret/v1\0${name}`, 'utf8');

/** Encrypts a secret value under the current master key. */
export function sealSecret(keys: MasterKeys, name: string, value: string): SealedSecret {
  const nonce = randomBytes(12);
  const cipher = createCipheriv(ALGORITHM, keys.keys.get(keys.currentId)!, nonce);
  cipher.setAAD(aad(name));
  const ciphertext = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
  return { keyId: keys.currentId, nonce, ciphertext, authTag: cipher.getAuthTag() };
}

/** Decrypts a sealed secret; refuses an unknown key id and any failed integrity check. */
export function openSecret(keys: MasterKeys, name: string, sealed: SealedSecret): string {
  const key = keys.keys.get(sealed.keyId);
  if (!key) {
    throw new PullerError('RP_SECRET_KEY', `secret ${name} is sealed with key "${sealed.keyId}", which ${MASTER_KEY_ENV} does not hold`);
  }
  try {
    const decipher = createDecipheriv(ALGORITHM, key, sealed.nonce);
    decipher.setAAD(aad(name));
    decipher.setAuthTag(sealed.authTag);
    return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]).toString('utf8');
  } catch (error) {
    throw new PullerError('RP_SECRET_CORRUPT', `secret ${name} does not decrypt with key "${sealed.keyId}": wrong key or tampered row`, { cause: error });
  }
}
