/**
 * The encrypted secret store behind `${secret:NAME}`: rows in the state store's `secrets`
 * table, each sealed by secret-cipher.ts. Values are decrypted only in the process that
 * uses them and are registered for scrubbing there; listing shows names and key ids only.
 */
import type { Kysely } from 'kysely';
import { ConfigError, PullerError } from '../errors.ts';
import type { StoreSchema } from '../store/schema.ts';
import { MASTER_KEY_ENV, parseMasterKeys, type MasterKeys } from './master-key.ts';
import type { SecretStoreLookup } from './resolve-secret.ts';
import { registerSecret } from './secret-registry.ts';
import { openSecret, sealSecret, type SealedSecret } from './secret-cipher.ts';

type Db = Kysely<StoreSchema>;

const SECRET_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

/** A stored secret as `secret list` shows it: never its value. */
export interface SecretInfo {
  name: string;
  keyId: string;
  updatedAt: Date;
}

function checkName(name: string): void {
  if (!SECRET_NAME.test(name)) {
    throw new ConfigError([{ path: 'name', message: 'a secret name is 1-128 letters, digits, _ . or -' }]);
  }
}

const sealedOf = (row: { key_id: string; nonce: Uint8Array; ciphertext: Uint8Array; auth_tag: Uint8Array }): SealedSecret => ({
  keyId: row.key_id, nonce: row.nonce, ciphertext: row.ciphertext, authTag: row.auth_tag,
});

/** Stores (or replaces) a secret, sealed under the current master key. */
export async function setSecret(db: Db, keys: MasterKeys, name: string, value: string): Promise<'created' | 'updated'> {
  checkName(name);
  if (value === '') throw new ConfigError([{ path: 'value', message: 'the secret value read from stdin is empty' }]);
  registerSecret(value);
  const s = sealSecret(keys, name, value);
  const row = { key_id: s.keyId, nonce: s.nonce, ciphertext: s.ciphertext, auth_tag: s.authTag };
  const existed = await db.selectFrom('secrets').select('name').where('name', '=', name).executeTakeFirst();
  await db.insertInto('secrets').values({ name, ...row })
    .onConflict((oc) => oc.column('name').doUpdateSet({ ...row, updated_at: new Date() }))
    .execute();
  return existed ? 'updated' : 'created';
}

/** The plaintext of a stored secret, or undefined when no secret has that name. */
export async function getSecret(db: Db, keys: MasterKeys, name: string): Promise<string | undefined> {
  const row = await db.selectFrom('secrets').selectAll().where('name', '=', name).executeTakeFirst();
  if (!row) return undefined;
  const value = openSecret(keys, name, sealedOf(row));
  registerSecret(value);
  return value;
}

/** Names, key ids and update times of every stored secret. */
export async function listSecrets(db: Db): Promise<SecretInfo[]> {
  const rows = await db.selectFrom('secrets').select(['name', 'key_id', 'updated_at']).orderBy('name').execute();
  return rows.map((r) => ({ name: r.name, keyId: r.key_id, updatedAt: r.updated_at }));
}

/** Deletes a secret; RP_NOT_FOUND when there is none of that name. */
export async function removeSecret(db: Db, name: string): Promise<void> {
  const result = await db.deleteFrom('secrets').where('name', '=', name).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw new PullerError('RP_NOT_FOUND', `no secret named ${name}`);
}

/**
 * Re-encrypts every secret not yet under the current key, in one transaction: either all
 * move or none does. Every row is opened first, so a missing old key changes nothing.
 */
export async function rotateSecrets(db: Db, keys: MasterKeys): Promise<{ reencrypted: string[]; alreadyCurrent: number }> {
  return db.transaction().execute(async (trx) => {
    const rows = await trx.selectFrom('secrets').selectAll().orderBy('name').forUpdate().execute();
    const stale = rows.filter((r) => r.key_id !== keys.currentId);
    const values = stale.map((r) => ({ name: r.name, value: openSecret(keys, r.name, sealedOf(r)) }));
    for (const { name, value } of values) {
      const s = sealSecret(keys, name, value);
      await trx.updateTable('secrets')
        .set({ key_id: s.keyId, nonce: s.nonce, ciphertext: s.ciphertext, auth_tag: s.authTag, updated_at: new Date() })
        .where('name', '=', name)
        .execute();
    }
    return { reencrypted: values.map((v) => v.name), alreadyCurrent: rows.length - stale.length };
  });
}

/**
 * The `${secret:NAME}` lookup over a store. The master key is read on first use, so
 * connectors that reference no stored secret run without one.
 */
export function storeSecretLookup(db: Db, env: NodeJS.ProcessEnv = process.env): SecretStoreLookup {
  let keys: MasterKeys | undefined;
  return async (name) => {
    keys ??= parseMasterKeys(env[MASTER_KEY_ENV]);
    return getSecret(db, keys, name);
  };
}
