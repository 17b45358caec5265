/**
 * The encrypted secret store behind `${secret:NAME}`: rows in the state store's `secrets`
 * table, each sealed by secret-cipher.ts together with its binding (where it may be sent,
 * secret-binding.ts). Values are decrypted only in the process that uses them and are
 * registered for scrubbing there; listing shows names, bindings and key ids only.
 */
import { createHmac } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { ConfigError, PullerError } from '../errors.ts';
import type { StoreSchema } from '../store/schema.ts';
import { MASTER_KEY_ENV, parseMasterKeys, type MasterKeys } from './master-key.ts';
import type { SecretStoreLookup, StoredSecret } from './resolve-secret.ts';
import { registerSecret } from './secret-registry.ts';
import { openSecret, sealSecret, type SealedSecret } from './secret-cipher.ts';

type Db = Kysely<StoreSchema>;

// NAME, or <tenant>/NAME for a tenant's own secret.
const SECRET_NAME = /^(?=.{1,256}$)[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)?$/;

/** A stored secret as `secret list` shows it: never its value. */
export interface SecretInfo {
  name: string;
  /** Where it may be sent, as stored (checked against the seal when it is opened); null: unbound. */
  binding: string | null;
  keyId: string;
  updatedAt: Date;
}

function checkName(name: string): void {
  if (!SECRET_NAME.test(name)) {
    throw new ConfigError([{ path: 'name', message: 'a secret name is letters, digits, _ . or -, optionally after <tenant>/ (up to 256 characters)' }]);
  }
}

/** A key's check value: an HMAC of a fixed text, which says nothing of the key. */
function keyCheck(key: Buffer): Buffer {
  return createHmac('sha256', key).update('reach-puller/secret-key-check/v1').digest();
}

const sealedOf = (row: { key_id: string; nonce: Uint8Array; ciphertext: Uint8Array; auth_tag: Uint8Array }): SealedSecret => ({
  keyId: row.key_id, nonce: row.nonce, ciphertext: row.ciphertext, authTag: row.auth_tag,
});

/**
 * Binds every key id of `keys` to its key material in the store, or refuses (RP_SECRET_KEY)
 * a key whose id was bound to other material: secrets sealed under the old key would no
 * longer open.
 */
async function checkKeyIds(db: Db | Transaction<StoreSchema>, keys: MasterKeys): Promise<void> {
  const bound = new Map((await db.selectFrom('secret_keys').selectAll().execute()).map((r) => [r.key_id, Buffer.from(r.check_value)]));
  for (const [id, key] of keys.keys) {
    const check = keyCheck(key);
    const known = bound.get(id);
    if (known && !known.equals(check)) {
      throw new PullerError('RP_SECRET_KEY',
        `key id "${id}" in ${MASTER_KEY_ENV} names other key material than the key that id sealed secrets with; give a new key a new id`);
    }
    if (!known) await db.insertInto('secret_keys').values({ key_id: id, check_value: check }).onConflict((oc) => oc.column('key_id').doNothing()).execute();
  }
}

/**
 * Stores (or replaces) a secret, sealed under the current master key with its binding, the
 * canonical destination it may be sent to (secret-binding.ts `parseBinding`); null stores it
 * unbound, which no connector may reference.
 */
export async function setSecret(db: Db, keys: MasterKeys, name: string, value: string, binding: string | null): Promise<'created' | 'updated'> {
  checkName(name);
  if (value === '') throw new ConfigError([{ path: 'value', message: 'the secret value read from stdin is empty' }]);
  await checkKeyIds(db, keys);
  registerSecret(value);
  const s = sealSecret(keys, name, value, binding);
  const row = { key_id: s.keyId, nonce: s.nonce, ciphertext: s.ciphertext, auth_tag: s.authTag, binding };
  const existed = await db.selectFrom('secrets').select('name').where('name', '=', name).executeTakeFirst();
  await db.insertInto('secrets').values({ name, ...row })
    .onConflict((oc) => oc.column('name').doUpdateSet({ ...row, updated_at: new Date() }))
    .execute();
  return existed ? 'updated' : 'created';
}

/**
 * The plaintext of a stored secret and its binding, or undefined when no secret has that name.
 * The binding is the one the seal authenticates: a row whose binding was changed in the
 * store fails to open (RP_SECRET_CORRUPT).
 */
export async function getSecret(db: Db, keys: MasterKeys, name: string): Promise<StoredSecret | undefined> {
  const row = await db.selectFrom('secrets').selectAll().where('name', '=', name).executeTakeFirst();
  if (!row) return undefined;
  const value = openSecret(keys, name, sealedOf(row), row.binding);
  registerSecret(value);
  return { value, binding: row.binding };
}

/**
 * Binds a stored secret to a destination (or unbinds it, with null): opens it, which checks
 * its current binding, and seals it again with the new one. RP_NOT_FOUND when there is none.
 */
export async function bindSecret(db: Db, keys: MasterKeys, name: string, binding: string | null): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await checkKeyIds(trx, keys);
    const row = await trx.selectFrom('secrets').selectAll().where('name', '=', name).forUpdate().executeTakeFirst();
    if (!row) throw new PullerError('RP_NOT_FOUND', `no secret named ${name}`);
    const value = openSecret(keys, name, sealedOf(row), row.binding);
    registerSecret(value);
    const s = sealSecret(keys, name, value, binding);
    await trx.updateTable('secrets')
      .set({ key_id: s.keyId, nonce: s.nonce, ciphertext: s.ciphertext, auth_tag: s.authTag, binding, updated_at: new Date() })
      .where('name', '=', name)
      .execute();
  });
}

/**
 * The bindings of the named secrets that are stored (unauthenticated: read without the
 * master key, for `apply` to refuse early; the seal is checked when a secret is opened).
 */
export async function secretBindings(db: Db | Transaction<StoreSchema>, names: string[]): Promise<Map<string, string | null>> {
  if (names.length === 0) return new Map();
  const rows = await db.selectFrom('secrets').select(['name', 'binding']).where('name', 'in', names).execute();
  return new Map(rows.map((r) => [r.name, r.binding]));
}

/** Names, bindings, key ids and update times of every stored secret. */
export async function listSecrets(db: Db): Promise<SecretInfo[]> {
  const rows = await db.selectFrom('secrets').select(['name', 'binding', 'key_id', 'updated_at']).orderBy('name').execute();
  return rows.map((r) => ({ name: r.name, binding: r.binding, keyId: r.key_id, updatedAt: r.updated_at }));
}

/** Deletes a secret; RP_NOT_FOUND when there is none of that name. */
export async function removeSecret(db: Db, name: string): Promise<void> {
  const result = await db.deleteFrom('secrets').where('name', '=', name).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw new PullerError('RP_NOT_FOUND', `no secret named ${name}`);
}

/**
 * Re-encrypts every secret not yet under the current key, in one transaction: either all
 * move or none does. Each row is opened first with the key its id names, so a missing old
 * key, or a key id reused for other key material, changes nothing and says so; a row counts
 * as current only when the current key opens it.
 */
export async function rotateSecrets(db: Db, keys: MasterKeys): Promise<{ reencrypted: string[]; alreadyCurrent: number }> {
  return db.transaction().execute(async (trx) => {
    await checkKeyIds(trx, keys);
    const rows = await trx.selectFrom('secrets').selectAll().orderBy('name').forUpdate().execute();
    const opened = rows.map((r) => ({ name: r.name, keyId: r.key_id, binding: r.binding, value: openSecret(keys, r.name, sealedOf(r), r.binding) }));
    const stale = opened.filter((r) => r.keyId !== keys.currentId);
    const values = stale.map(({ name, value, binding }) => ({ name, value, binding }));
    for (const { name, value, binding } of values) {
      const s = sealSecret(keys, name, value, binding);
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
