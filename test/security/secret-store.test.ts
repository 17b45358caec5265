/**
 * The encrypted secret store: AES-256-GCM with a per-row key id and the name and binding as
 * associated data; rotation re-encrypts all or nothing and keeps bindings; `${secret:NAME}`
 * in a connector resolves through it (proved on MariaDB, which checks the password).
 */
import { randomBytes } from 'node:crypto';
import { PullerError } from '../../src/errors.ts';
import { parseMasterKeys } from '../../src/secrets/master-key.ts';
import { openSecret, sealSecret } from '../../src/secrets/secret-cipher.ts';
import { bindSecret, getSecret, listSecrets, removeSecret, rotateSecrets, setSecret } from '../../src/secrets/secret-store.ts';
import { RO_PASSWORD, TEST_DIALECTS } from '../helpers/partner.ts';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test } from '../fixture.ts';

const key = () => randomBytes(32).toString('base64');
const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return (error as PullerError).code;
  }
  return undefined;
};

describe('master keys', () => {
  test('reads one bare key (fingerprint id) or id:key pairs, the first encrypting', () => {
    const one = parseMasterKeys(key());
    expect(one.currentId).toMatch(/^k[0-9a-f]{8}$/);
    const two = parseMasterKeys(`new:${key()}, old:${key()}`);
    expect([two.currentId, [...two.keys.keys()]]).toEqual(['new', ['new', 'old']]);
  });

  test('refuses a missing, short, non-base64 or duplicated key without echoing it', () => {
    expect(codeOf(() => parseMasterKeys(undefined))).toBe('RP_SECRET_KEY');
    expect(codeOf(() => parseMasterKeys(randomBytes(16).toString('base64')))).toBe('RP_SECRET_KEY');
    expect(codeOf(() => parseMasterKeys(`a:${key()},a:${key()}`))).toBe('RP_SECRET_KEY');
    // 32 bytes once the stray characters are dropped, as Buffer.from does: only the round trip refuses it.
    const clean = key();
    const bad = `${clean.slice(0, 20)}!!${clean.slice(20)}`;
    const refused = (() => {
      try {
        parseMasterKeys(bad);
      } catch (error) {
        return error as PullerError;
      }
      return undefined;
    })();
    expect(refused).toMatchObject({ code: 'RP_SECRET_KEY' });
    expect(refused!.message).not.toContain(bad.slice(0, 20));
  });
});

describe('secret cipher', () => {
  const keys = parseMasterKeys(`k1:${key()}`);

  test('round-trips, with a fresh nonce every time and no plaintext in the sealed bytes', () => {
    const a = sealSecret(keys, 'DB_PW', 'hunter2-long-secret');
    const b = sealSecret(keys, 'DB_PW', 'hunter2-long-secret');
    expect(Buffer.from(a.nonce).equals(Buffer.from(b.nonce))).toBe(false);
    expect(Buffer.from(a.ciphertext).toString('utf8')).not.toContain('hunter2');
    expect(openSecret(keys, 'DB_PW', a)).toBe('hunter2-long-secret');
  });

  test('refuses a sealed value moved to another name, a flipped bit and an unknown key id', () => {
    const sealed = sealSecret(keys, 'DB_PW', 'hunter2-long-secret');
    expect(codeOf(() => openSecret(keys, 'OTHER', sealed))).toBe('RP_SECRET_CORRUPT');
    const flipped = Buffer.from(sealed.ciphertext);
    flipped[0]! ^= 1;
    expect(codeOf(() => openSecret(keys, 'DB_PW', { ...sealed, ciphertext: flipped }))).toBe('RP_SECRET_CORRUPT');
    expect(codeOf(() => openSecret(parseMasterKeys(`k2:${key()}`), 'DB_PW', sealed))).toBe('RP_SECRET_KEY');
  });

  test('opens a bound value only under the binding it was sealed with', () => {
    const bound = sealSecret(keys, 'DB_PW', 'hunter2-long-secret', 'postgres://rp_ro@db.glow.example:5432');
    expect(openSecret(keys, 'DB_PW', bound, 'postgres://rp_ro@db.glow.example:5432')).toBe('hunter2-long-secret');
    expect(codeOf(() => openSecret(keys, 'DB_PW', bound, 'postgres://rp_ro@impostor.example:5432'))).toBe('RP_SECRET_CORRUPT');
    expect(codeOf(() => openSecret(keys, 'DB_PW', bound, null))).toBe('RP_SECRET_CORRUPT');
    expect(codeOf(() => openSecret(keys, 'DB_PW', sealSecret(keys, 'DB_PW', 'hunter2-long-secret'), 'postgres://rp_ro@impostor.example:5432'))).toBe('RP_SECRET_CORRUPT');
  });
});

describe('secret store', () => {
  // Each test has a store of its own (the lab's), so none depends on what another left.

  test('sets, lists (never values), replaces and removes', async ({ lab }) => {
    const store = await lab.store();
    const keys = parseMasterKeys(`k1:${key()}`);
    expect(await setSecret(store.db, keys, 'A', 'value-a-1', 'https://reach.example')).toBe('created');
    expect(await setSecret(store.db, keys, 'A', 'value-a-2', 'https://eu.reach.example')).toBe('updated');
    expect(await getSecret(store.db, keys, 'A')).toEqual({ value: 'value-a-2', binding: 'https://eu.reach.example' });
    const list = await listSecrets(store.db);
    expect(list.map((s) => [s.name, s.binding, s.keyId])).toEqual([['A', 'https://eu.reach.example', 'k1']]);
    expect(JSON.stringify(list)).not.toContain('value-a');
    await removeSecret(store.db, 'A');
    expect(await getSecret(store.db, keys, 'A')).toBeUndefined();
    await expect(removeSecret(store.db, 'A')).rejects.toMatchObject({ code: 'RP_NOT_FOUND' });
  });

  test('rotates every secret to the new key; without the old key nothing changes', async ({ lab }) => {
    const store = await lab.store();
    const oldKey = key();
    const old = parseMasterKeys(oldKey);
    await setSecret(store.db, old, 'R1', 'rotate-me-1', 'mysql://rp_ro@db.one.example:3306');
    await setSecret(store.db, old, 'R2', 'rotate-me-2', null);
    const newOnly = parseMasterKeys(`k2027:${key()}`);
    await expect(rotateSecrets(store.db, newOnly)).rejects.toMatchObject({ code: 'RP_SECRET_KEY' });
    expect((await listSecrets(store.db)).map((s) => s.keyId)).toEqual([old.currentId, old.currentId]);

    const both = parseMasterKeys(`${[...newOnly.keys.entries()].map(([id, k]) => `${id}:${k.toString('base64')}`)[0]},${oldKey}`);
    expect(await rotateSecrets(store.db, both)).toEqual({ reencrypted: ['R1', 'R2'], alreadyCurrent: 0 });
    expect(await rotateSecrets(store.db, both)).toEqual({ reencrypted: [], alreadyCurrent: 2 });
    // The old key can go: the new one alone opens every secret.
    expect(await getSecret(store.db, newOnly, 'R1')).toEqual({ value: 'rotate-me-1', binding: 'mysql://rp_ro@db.one.example:3306' });
    expect(await getSecret(store.db, newOnly, 'R2')).toEqual({ value: 'rotate-me-2', binding: null });
  });

  test('binds a stored secret (one stored unbound, too) without its value passing through the command line', async ({ lab }) => {
    const store = await lab.store();
    const keys = parseMasterKeys(`kb:${key()}`);
    await setSecret(store.db, keys, 'B1', 'bind-me-1', null);
    await bindSecret(store.db, keys, 'B1', 'postgres://rp_ro@db.glow.example:5432');
    expect(await getSecret(store.db, keys, 'B1')).toEqual({ value: 'bind-me-1', binding: 'postgres://rp_ro@db.glow.example:5432' });
    await expect(bindSecret(store.db, keys, 'nope', null)).rejects.toMatchObject({ code: 'RP_NOT_FOUND' });
    await removeSecret(store.db, 'B1');
  });

  test('refuses a key id reused for other key material, at rotation and when sealing, and moves nothing', async ({ lab }) => {
    const store = await lab.store();
    const first = parseMasterKeys(`k9:${key()}`);
    await setSecret(store.db, first, 'S1', 'sealed-under-the-first-k9', null);
    // Another key under the same id: a rotation that trusted the id would call S1 current.
    const impostor = parseMasterKeys(`k9:${key()}`);
    await expect(rotateSecrets(store.db, impostor)).rejects.toMatchObject({ code: 'RP_SECRET_KEY', message: expect.stringContaining('key id "k9"') });
    await expect(setSecret(store.db, impostor, 'S2', 'would-be-sealed', null)).rejects.toMatchObject({ code: 'RP_SECRET_KEY' });
    expect((await getSecret(store.db, first, 'S1'))?.value).toBe('sealed-under-the-first-k9');
    expect((await listSecrets(store.db)).find((x) => x.name === 'S2')).toBeUndefined();
  });
});

describe.runIf(TEST_DIALECTS.includes('mysql'))('${secret:NAME} in a connector', () => {
  test('resolves from the store when a pull connects (MariaDB checks the password)', async ({ lab }) => {
    const partner = await lab.partner('mysql');
    const store = await lab.store();
    const { view } = await lab.view(partner, 'secret', 'id integer primary key, email varchar(50), updated_at datetime(6)',
      "values (1, 'a@example.com', '2024-01-01 00:00:00')");
    const masterKey = key();
    const env = { ...process.env, REACH_PULLER_MASTER_KEY: masterKey };
    const source = new URL(partner.url);
    const binding = `mysql://rp_ro@${source.hostname}:${source.port || 3306}`;
    await setSecret(store.db, parseMasterKeys(masterKey), 't-store/PARTNER_DB_PW', RO_PASSWORD, binding);
    const fromStore = { ...partner, sourceYaml: (extra?: string) => partner.sourceYaml(extra).replace('${env:RP_TEST_RO_PASSWORD}', '${secret:t-store/PARTNER_DB_PW}') };
    const connector = await lab.connector(store, fromStore, { id: 'from_store', tenant: 't-store', source: 'settle_seconds: 0', body: `streams:
  - { name: s, view: ${view}, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: id, email: email } }
` });
    expect(connector.config.source.password).toContain('${secret:');
    const [ok] = await lab.pull(store, connector, { runtime: { env } });
    expect(ok!.error).toBeUndefined();
    expect(ok!.rowsSent).toBe(1);
    const rows = await partner.query<{ id: number; email: string }>(`select id, email from ${view}`);
    expect(await readResources(store.db, 't-store', 'contacts')).toEqual(rows.map((r) => ({ id: String(r.id), email: r.email })));

    // A wrong stored value is the partner's "access denied", not a silent fallback.
    await setSecret(store.db, parseMasterKeys(masterKey), 't-store/PARTNER_DB_PW', 'not-the-password', binding);
    const [denied] = await lab.pull(store, connector, { runtime: { env } });
    expect((denied!.error as PullerError).code).toBe('RP_SOURCE_AUTH');
  });
});
