/**
 * A connector reaches only the secrets the operator grants connectors: never the puller's
 * own keys, never another tenant's stored secrets, never a file outside the secret directory,
 * never a stored secret where its binding does not send it (the whole path with a real store
 * and a fake server: secret-binding.test.ts).
 */
import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveSecret } from '../../src/secrets/resolve-secret.ts';
import type { SecretUse } from '../../src/secrets/secret-binding.ts';

const GLOW_DB = 'postgres://rp_ro@db.glow.example:5432';
const REACH = 'https://reach.example';
const store: Record<string, { value: string; binding: string | null }> = {
  'glow/db': { value: 'glow-db-pw-1', binding: GLOW_DB },
  'zen/db': { value: 'zen-db-pw-2', binding: 'postgres://rp_ro@db.zen.example:5432' },
  'shared-reach-key': { value: 'shared-key-3', binding: REACH },
  'glow/unbound': { value: 'glow-unbound-4', binding: null },
};
const secretStore = async (name: string) => store[name];
const toGlowDb: SecretUse = { connector: 'glow-main', field: 'source.password', destination: GLOW_DB };
const toReach: SecretUse = { connector: 'glow-main', field: 'reach.token', destination: REACH };

describe('secret scoping', () => {
  const env = {
    REACH_PULLER_CONNECTOR_ENV: 'GLOW_*,REACH_*,DATABASE_URL',
    REACH_PULLER_SHARED_SECRETS: 'shared-*',
    GLOW_DB_PASSWORD: 'granted-env-pw',
    REACH_PULLER_MASTER_KEY: 'master-key-never-to-leak',
    REACH_PULLER_OPS_TOKEN: 'ops-token-never-to-leak',
    REACH_API_TOKEN: 'global-reach-token-never-to-leak',
    DATABASE_URL: 'postgres://puller:store-pw@db/rp',
    OTHER_TENANT_PASSWORD: 'not-granted',
  };

  it('resolves what is granted: listed variables, the tenant\'s own secrets, shared ones', async () => {
    expect(await resolveSecret('${env:GLOW_DB_PASSWORD}', { env, tenant: 'glow' })).toBe('granted-env-pw');
    expect(await resolveSecret('${secret:glow/db}', { env, secretStore, tenant: 'glow', use: toGlowDb })).toBe('glow-db-pw-1');
    expect(await resolveSecret('${secret:shared-reach-key}', { env, secretStore, tenant: 'glow', use: toReach })).toBe('shared-key-3');
  });

  it('releases a stored secret only where its binding sends it, naming connector, field and secret', async () => {
    const refusal = (reference: string, use?: SecretUse) =>
      resolveSecret(reference, { env, secretStore, tenant: 'glow', use }).then(() => undefined, (e: Error & { code: string }) => e);
    const elsewhere = await refusal('${secret:glow/db}', { ...toGlowDb, destination: 'postgres://rp_ro@impostor.example:5432' });
    expect(elsewhere).toMatchObject({ code: 'RP_SECRET_FORBIDDEN', message: expect.stringContaining('connector glow-main, source.password: secret glow/db is bound to another destination') });
    // A source password is not a Reach token, nor the other way round.
    expect(await refusal('${secret:glow/db}', { ...toReach, destination: GLOW_DB.replace('postgres', 'mysql') })).toMatchObject({ code: 'RP_SECRET_FORBIDDEN' });
    expect(await refusal('${secret:shared-reach-key}', { ...toGlowDb, destination: REACH.replace('reach', 'evil') })).toMatchObject({ code: 'RP_SECRET_FORBIDDEN' });
    expect(await refusal('${secret:glow/unbound}', toGlowDb)).toMatchObject({ code: 'RP_SECRET_FORBIDDEN', message: expect.stringContaining('secret bind glow/unbound --for') });
    // Without saying where the value goes, nothing stored is released.
    expect(await refusal('${secret:glow/db}')).toMatchObject({ code: 'RP_SECRET_FORBIDDEN' });
    expect(elsewhere?.message).not.toContain('glow-db-pw-1');
  });

  it('never resolves the puller\'s own keys, even when a grant would cover them', async () => {
    for (const name of ['REACH_PULLER_MASTER_KEY', 'REACH_PULLER_OPS_TOKEN', 'REACH_API_TOKEN', 'DATABASE_URL']) {
      await expect(resolveSecret(`\${env:${name}}`, { env, tenant: 'glow' })).rejects.toMatchObject({ code: 'RP_SECRET_FORBIDDEN' });
    }
    await expect(resolveSecret('${env:OTHER_TENANT_PASSWORD}', { env, tenant: 'glow' })).rejects.toMatchObject({ code: 'RP_SECRET_FORBIDDEN' });
  });

  it('never resolves another tenant\'s stored secret', async () => {
    await expect(resolveSecret('${secret:zen/db}', { env, secretStore, tenant: 'glow', use: toGlowDb })).rejects.toMatchObject({ code: 'RP_SECRET_FORBIDDEN' });
    // A tenant whose name is a prefix of another's reaches only its own namespace.
    await expect(resolveSecret('${secret:glow/db}', { env, secretStore, tenant: 'glo', use: toGlowDb })).rejects.toMatchObject({ code: 'RP_SECRET_FORBIDDEN' });
  });

  it('reads files only inside the secret directory, symbolic links and ../ resolved first', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'rp-secret-dir-'));
    const dir = path.join(root, 'secrets');
    await mkdir(dir);
    await writeFile(path.join(dir, 'glow-db'), 'file-pw\n');
    await writeFile(path.join(root, 'outside'), 'outside-pw');
    await symlink(path.join(root, 'outside'), path.join(dir, 'link-out'));
    const fileEnv = { REACH_PULLER_SECRET_DIR: dir };
    expect(await resolveSecret('${file:glow-db}', { env: fileEnv })).toBe('file-pw');
    expect(await resolveSecret(`\${file:${path.join(dir, 'glow-db')}}`, { env: fileEnv })).toBe('file-pw');
    for (const file of ['../outside', 'link-out', '/proc/self/environ', path.join(root, 'outside')]) {
      await expect(resolveSecret(`\${file:${file}}`, { env: fileEnv })).rejects.toMatchObject({ code: 'RP_SECRET_FORBIDDEN' });
    }
    await expect(resolveSecret('${file:glow-db}', { env: {} })).rejects.toMatchObject({ code: 'RP_SECRET_FORBIDDEN' });
  });
});

describe('${file:} outside the secret directory', () => {
  // Adopted from the issue 14 review (scoping-and-parsing): the answer must not probe the host's files.
  it('is refused the same way whether or not the file exists, before anything on disk is looked at', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'rp-secret-probe-'));
    const dir = path.join(root, 'secrets');
    await mkdir(dir);
    await writeFile(path.join(dir, 'ok'), 'x-secret-ok');
    await writeFile(path.join(root, 'exists-outside'), 'outside');
    const env = { REACH_PULLER_SECRET_DIR: dir };
    const answer = (file: string) => resolveSecret(`\${file:${file}}`, { env }).then(() => 'resolved', (e: { code: string; message: string }) => `${e.code}: ${e.message.replace(file, '<file>')}`);
    const existing = await answer('/etc/hostname');
    expect(existing).toMatch(/^RP_SECRET_FORBIDDEN: .*outside REACH_PULLER_SECRET_DIR/);
    for (const file of ['/etc/rp-no-such-file', '../exists-outside', '../no-such-file', path.join(root, 'exists-outside'), path.join(root, 'nope')]) {
      expect(await answer(file), file).toBe(existing);
    }
    // Inside the directory the file may be missing (that says nothing of the host); a link out is still refused.
    expect(await answer('ok')).toBe('resolved');
    expect(await answer('missing')).toMatch(/^RP_SECRET_UNRESOLVED/);
    await symlink(path.join(root, 'exists-outside'), path.join(dir, 'link-out'));
    expect(await answer('link-out')).toBe(existing);
  });
});
