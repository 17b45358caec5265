/**
 * AES-256-GCM sealing of one secret: a random 12-byte nonce per encryption, the key id kept
 * beside the ciphertext, and the secret's name and binding (where it may be sent,
 * secret-binding.ts) as associated data, so a sealed value moved onto another name, given
 * another binding in the store, or tampered with, fails to open instead of decrypting.
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
// Versioned, so one format can never be confused with another: v1 (before bindings) seals the
// name alone and is what an unbound secret still uses; v2 adds the binding. Setting or
// clearing a row's binding in the store therefore changes the format its tag is checked under.
const aad = (name: string, binding: string | null) => Buffer.from(
  binding === null ? `reach-puller/secret/v1\0${name}` : `reach-puller/secret/v2\0${name}\0${binding}`, 'utf8');

/** Encrypts a secret value under the current master key, bound to `binding` (null: unbound). */
export function sealSecret(keys: MasterKeys, name: string, value: string, binding: string | null = null): SealedSecret {
  const nonce = randomBytes(12);
  const cipher = createCipheriv(ALGORITHM, keys.keys.get(keys.currentId)!, nonce);
  cipher.setAAD(aad(name, binding));
  const ciphertext = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
  return { keyId: keys.currentId, nonce, ciphertext, authTag: cipher.getAuthTag() };
}

/** Decrypts a sealed secret under the binding it was sealed with; refuses an unknown key id and any failed integrity check. */
export function openSecret(keys: MasterKeys, name: string, sealed: SealedSecret, binding: string | null = null): string {
  const key = keys.keys.get(sealed.keyId);
  if (!key) {
    throw new PullerError('RP_SECRET_KEY', `secret ${name} is sealed with key "${sealed.keyId}", which ${MASTER_KEY_ENV} does not hold`);
  }
  try {
    const decipher = createDecipheriv(ALGORITHM, key, sealed.nonce);
    decipher.setAAD(aad(name, binding));
    decipher.setAuthTag(sealed.authTag);
    return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]).toString('utf8');
  } catch (error) {
    throw new PullerError('RP_SECRET_CORRUPT', `secret ${name} does not decrypt with key "${sealed.keyId}": wrong key, or a tampered row or binding`, { cause: error });
  }
}
