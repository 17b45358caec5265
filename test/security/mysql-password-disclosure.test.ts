/**
 * Whoever answers at a MySQL / MariaDB source's address gets nothing of the password unless
 * the connector allows `password` in `source.password_auth` (review of issue 14). mysql2
 * answers caching_sha2_password "full authentication" and sha256_password by RSA-encrypting
 * the password under a key the server itself sends (in clear inside TLS under `require`),
 * and mysql_clear_password in clear; the guard (src/sources/mysql/password-guard.ts) refuses
 * all three, while the challenge-response methods log in as before.
 */
import { createConnection } from 'mysql2';
import { RO_PASSWORD, RO_USER } from '../helpers/partner.ts';
import { mysqlImpostor, type ImpostorMethod } from '../helpers/mysql-impostor.ts';
import { guardedAuthPlugins } from '../../src/sources/mysql/password-guard.ts';
import type { PasswordAuth } from '../../src/sources/connection-settings.ts';
import { openSource } from '../../src/sources/source-pools.ts';
import { settingsFor } from '../sources/source-fixtures.ts';
import { sourceSchema } from '../../src/config/connector-schema.ts';
import { describe, expect, test } from '../fixture.ts';

const PASSWORD = 'rv14-mysql-Partner-pw-9f3';

/** Logs in to an impostor through a source (the puller's whole connect path); the error, if any. */
async function loginThroughSource(port: number, passwordAuth?: PasswordAuth[]): Promise<unknown> {
  const source = openSource(settingsFor('mysql', `mysql://reader:${PASSWORD}@127.0.0.1:${port}/partner`, passwordAuth ? { passwordAuth } : {}));
  try {
    return await source.withReadSession((s) => s.raw('select 1')).then(() => undefined, (error: unknown) => error);
  } finally {
    await source.close();
  }
}

/** Logs in with bare mysql2 and the guard's handlers: only the handshake, no session set-up. */
function handshake(port: number, allowed: PasswordAuth[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const connection = createConnection({
      host: '127.0.0.1', port, user: 'reader', password: PASSWORD, database: 'partner',
      authPlugins: guardedAuthPlugins(allowed, 'mysql://reader@127.0.0.1/partner'),
    });
    connection.on('error', () => undefined);
    connection.connect((error) => {
      connection.destroy();
      if (error) reject(error);
      else resolve();
    });
  });
}

describe('a MySQL server asking for the password itself', () => {
  test('caching_sha2_password full authentication right after the greeting gets nothing (the review\'s server)', async () => {
    const server = await mysqlImpostor({ method: 'caching_sha2_password', ignoreClientMethod: true });
    try {
      expect(await loginThroughSource(server.port)).toBeTruthy();
      expect(server.recovered()).toEqual([]);
    } finally {
      await server.close();
    }
  });

  const methods: [ImpostorMethod, string][] = [
    ['caching_sha2_password', 'caching_sha2_password full authentication'],
    ['sha256_password', 'sha256_password'],
    ['mysql_clear_password', 'mysql_clear_password'],
  ];
  for (const [method, named] of methods) {
    test(`${method}: gets nothing by default, and the login fails RP_SOURCE_AUTH naming the method`, async () => {
      const server = await mysqlImpostor({ method });
      try {
        const error = await loginThroughSource(server.port);
        expect(error).toMatchObject({
          code: 'RP_SOURCE_AUTH',
          message: expect.stringContaining(`mysql://reader@127.0.0.1:${server.port}/partner asked for the password by ${named}, which source.password_auth does not allow`),
        });
        expect((error as Error).message).toContain('nothing of the password was sent');
        expect((error as Error).message).not.toContain(PASSWORD);
        expect(server.recovered()).toEqual([]);
      } finally {
        await server.close();
      }
    });

    test(`${method}: gets the password when the connector allows password (the impostor really recovers it)`, async () => {
      const server = await mysqlImpostor({ method });
      try {
        expect(await loginThroughSource(server.port, ['challenge', 'password'])).toMatchObject({ code: 'RP_SOURCE_AUTH' }); // its "Access denied"
        expect(server.recovered()).toEqual([PASSWORD]);
      } finally {
        await server.close();
      }
    });
  }
});

describe('challenge-response logins keep working under the guard', () => {
  test('caching_sha2_password fast authentication (the token matched the server\'s cache)', async () => {
    const server = await mysqlImpostor({ method: 'caching_sha2_password', fastAuth: true });
    try {
      await handshake(server.port, ['challenge']);
      expect(server.logins()).toBe(1);
      expect(server.recovered()).toEqual([]);
    } finally {
      await server.close();
    }
  });

  test('mysql_native_password', async () => {
    const server = await mysqlImpostor({ method: 'mysql_native_password' });
    try {
      await handshake(server.port, ['challenge']);
      expect(server.logins()).toBe(1);
    } finally {
      await server.close();
    }
  });

  test('the real MariaDB of the suite, as the read-only user, by default', async ({ lab }) => {
    const partner = await lab.partner('mysql');
    await partner.grantReadOnly();
    const u = new URL(partner.url);
    const source = openSource(settingsFor('mysql', `mysql://${RO_USER}:${encodeURIComponent(RO_PASSWORD)}@${u.hostname}:${u.port || 3306}/${partner.database}`));
    try {
      const [row] = await source.withReadSession((s) => s.raw('select 1 as one'));
      expect(Number((row as { one: unknown }).one)).toBe(1);
    } finally {
      await source.close();
    }
  });
});

describe('source.password_auth', () => {
  const base = { dialect: 'mysql', host: 'db.example', database: 'd', user: 'u', password: '${env:RP_X}' };
  test('defaults to challenge-response only; the earlier PostgreSQL names are read as what they send', () => {
    expect(sourceSchema.parse(base).password_auth).toEqual(['challenge']);
    expect(sourceSchema.parse({ ...base, password_auth: ['scram', 'md5', 'cleartext'] }).password_auth).toEqual(['challenge', 'hash', 'password']);
    expect(sourceSchema.safeParse({ ...base, password_auth: ['rsa'] }).success).toBe(false);
  });
});
