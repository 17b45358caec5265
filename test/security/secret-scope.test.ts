/**
 * A connector reaches only the secrets the operator grants connectors: never the puller's
 * own keys, never another tenant's stored secrets, never a file outside the secret directory.
 */
import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveSecret } from '../../src/secrets/resolve-secret.ts';

const store: Record<string, string> = { 'glow/db': 'glow-db-pw-1', 'zen/db': 'zen-db-pw-2', 'shared-reach-key': 'shared-key-3' };
const secretStore = async (name: string) => store[name];

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
    expect(await resolveSecret('${secret:glow/db}', { env, secretStore, tenant: 'glow' })).toBe('glow-db-pw-1');
    expect(await resolveSecret('${secret:shared-reach-key}', { env, secretStore, tenant: 'glow' })).toBe('shared-key-3');
  });

  it('never resolves the puller\'s own keys, even when a grant would cover them', async () => {
    for (const name of ['REACH_PULLER_MASTER_KEY', 'REACH_PULLER_OPS_TOKEN', 'REACH_API_TOKEN', 'DATABASE_URL']) {
      await expect(resolveSecret(`\${env:${name}}`, { env, tenant: 'glow' })).rejects.toMatchObject({ code: 'RP_SECRET_FORBIDDEN' });
    }
    await expect(resolveSecret('${env:OTHER_TENANT_PASSWORD}', { env, tenant: 'glow' })).rejects.toMatchObject({ code: 'RP_SECRET_FORBIDDEN' });
  });

  it('never resolves another tenant\'s stored secret', async () => {
    await expect(resolveSecret('${secret:zen/db}', { env, secretStore, tenant: 'glow' })).rejects.toMatchObject({ code: 'RP_SECRET_FORBIDDEN' });
    // A tenant whose name is a prefix of another's reaches only its own namespace.
    await expect(resolveSecret('${secret:glow/db}', { env, secretStore, tenant: 'glo' })).rejects.toMatchObject({ code: 'RP_SECRET_FORBIDDEN' });
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
