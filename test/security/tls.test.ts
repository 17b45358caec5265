/**
 * TLS to a partner PostgreSQL, proved through a TLS-terminating proxy with a CA made at
 * test time (the local server has no TLS and is not reconfigured): verify-full connects
 * only with the right CA and host name, require encrypts without checking, disable is
 * refused by a server that requires TLS.
 * MariaDB negotiates TLS inside its own handshake, so no proxy: the same checks run
 * against a private MariaDB server started with a certificate and TLS required (the shared
 * local server has SSL disabled).
 */
import { afterAll } from 'vitest';
import { PullerError } from '../../src/errors.ts';
import type { TlsSettings } from '../../src/sources/connection-settings.ts';
import { openSource } from '../../src/sources/source-pools.ts';
import { PG_URL } from '../helpers/databases.ts';
import { emailStreamYaml, RO_PASSWORD, RO_USER, type Partner } from '../helpers/partner.ts';
import { readResources } from '../helpers/resources.ts';
import { registerYaml } from '../helpers/store.ts';
import { describe, expect, test, type Lab, type LabStore } from '../fixture.ts';
import { startPrivateMariaDb, type PrivateMariaDb } from '../helpers/mariadb-private-server.ts';
import { createTestCa, startPgTlsProxy, type TestCa, type TlsProxy } from '../helpers/tls-proxy.ts';
import { settingsFor } from '../sources/source-fixtures.ts';
import { readFileSync } from 'node:fs';

/** The PullerError a connection attempt fails with. */
async function failure(promise: Promise<unknown>): Promise<PullerError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(PullerError);
  return error as PullerError;
}

/** A connector reading `v` through verify-full with the CA file named in its config (its own YAML: host `localhost`, not the lab partner's). */
function verifyFullConnector(tenant: string, source: { dialect: 'postgres' | 'mysql'; port: number; database: string }, caFile: string): string {
  return `
tenant: ${tenant}
source:
  dialect: ${source.dialect}
  host: localhost
  port: ${source.port}
  database: ${source.database}
  user: ${RO_USER}
  password: \${env:RP_TEST_RO_PASSWORD}
  ssl: { mode: verify-full, ca: ${caFile} }
  settle_seconds: 0
${emailStreamYaml('customers')}`;
}

describe('TLS to PostgreSQL (through a TLS-terminating proxy)', () => {
  interface PgTls { partner: Partner; store: LabStore; ca: TestCa; otherCa: TestCa; proxy: TlsProxy; otherHostProxy: TlsProxy }
  // Made by the first test that needs it; proxies closed after the file, the rest by the lab.
  let setUp: Promise<PgTls> | undefined;
  const pgTls = (lab: Lab) => (setUp ??= (async () => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    await lab.view(partner, 'tls', 'id bigint primary key, email text, updated_at timestamptz',
      "values (1, 'a@example.com', '2024-01-01T00:00:00Z'), (2, 'b@example.com', '2024-01-02T00:00:00Z')");
    const dir = await lab.tmpDir();
    const ca = createTestCa('right', dir);
    const otherCa = createTestCa('wrong', dir);
    // The proxies terminate TLS in front of the lab's PostgreSQL (PG_URL's host and port).
    const pgAt = new URL(PG_URL);
    const target = { host: pgAt.hostname, port: Number(pgAt.port || 5432) };
    const proxy = await startPgTlsProxy({ ...ca.issue('localhost', ['DNS:localhost', 'IP:127.0.0.1']), target });
    const otherHostProxy = await startPgTlsProxy({ ...ca.issue('other', ['DNS:other.example']), target });
    return { partner, store, ca, otherCa, proxy, otherHostProxy };
  })());
  afterAll(async () => {
    const made = await setUp?.catch(() => undefined);
    await made?.proxy.close();
    await made?.otherHostProxy.close();
  });
  /** Connects through a proxy with these TLS settings and reads one value. */
  async function readThrough(port: number, host: string, ssl: TlsSettings): Promise<unknown> {
    const { partner } = await setUp!;
    const source = openSource(settingsFor('postgres', `postgres://${RO_USER}:${RO_PASSWORD}@${host}:${port}/${partner.database}`, { ssl }));
    try {
      const rows = await source.withReadSession((s) => s.raw('select count(*)::int as n from v_tls'));
      return rows[0]!.n;
    } finally {
      await source.close();
    }
  }

  test('verify-full with the right CA and host name pulls a connector (CA read from the file in the config)', async ({ lab }) => {
    const { partner, store, ca, proxy } = await pgTls(lab);
    const connector = await registerYaml(store, 'tls_ok',
      verifyFullConnector('tenant-tls', { dialect: 'postgres', port: proxy.port, database: partner.database }, ca.caFile).replace('view: v\n', 'view: v_tls\n'));
    const sessions = proxy.tlsSessions;
    const [summary] = await lab.pull(store, connector);
    expect(summary!.error).toBeUndefined();
    expect(proxy.tlsSessions).toBeGreaterThan(sessions);
    const rows = await partner.query<{ id: string; email: string }>('select id, email from v_tls order by id');
    expect(await readResources(store.db, 'tenant-tls', 'contacts')).toEqual(rows.map((r) => ({ id: String(r.id), email: r.email })));
  });

  test('verify-full accepts the IP address when the certificate names it', async ({ lab }) => {
    const { ca, proxy } = await pgTls(lab);
    expect(await readThrough(proxy.port, '127.0.0.1', { mode: 'verify-full', ca: readFileSync(ca.caFile, 'utf8') })).toBe(2);
  });

  test('verify-full refuses a certificate from an unknown CA', async ({ lab }) => {
    const { otherCa, proxy } = await pgTls(lab);
    const error = await failure(readThrough(proxy.port, 'localhost', { mode: 'verify-full', ca: readFileSync(otherCa.caFile, 'utf8') }));
    expect(error.message).toMatch(/certificate/i);
  });

  test('verify-full refuses a certificate for another host name', async ({ lab }) => {
    const { ca, otherHostProxy } = await pgTls(lab);
    const error = await failure(readThrough(otherHostProxy.port, 'localhost', { mode: 'verify-full', ca: readFileSync(ca.caFile, 'utf8') }));
    expect(error.message).toMatch(/other\.example|altnames|host/i);
  });

  test('require encrypts without checking the certificate', async ({ lab }) => {
    const { otherHostProxy } = await pgTls(lab);
    const sessions = otherHostProxy.tlsSessions;
    expect(await readThrough(otherHostProxy.port, 'localhost', { mode: 'require' })).toBe(2);
    expect(otherHostProxy.tlsSessions).toBeGreaterThan(sessions);
  });

  test('disable fails against a server that requires TLS', async ({ lab }) => {
    const { proxy } = await pgTls(lab);
    const refused = proxy.plaintextRefused;
    await failure(readThrough(proxy.port, '127.0.0.1', { mode: 'disable' }));
    expect(proxy.plaintextRefused).toBeGreaterThan(refused);
  });
});

describe('TLS to MariaDB (a private server that requires TLS)', () => {
  // Two private MariaDB servers of this file (own data directory and port: no name another run
  // could meet), made by the first test that needs them and closed after the file.
  interface MariaTls { store: LabStore; ca: TestCa; otherCa: TestCa; server: PrivateMariaDb; otherHostServer: PrivateMariaDb }
  let setUp: Promise<MariaTls> | undefined;
  // Every server started, closed after the file even when a later start or its setup failed.
  const started: PrivateMariaDb[] = [];
  const start = async (options: Parameters<typeof startPrivateMariaDb>[0]) => {
    const s = await startPrivateMariaDb(options);
    started.push(s);
    return s;
  };
  const mariaTls = (lab: Lab) => (setUp ??= (async () => {
    const store = await lab.store();
    const dir = await lab.tmpDir();
    const ca = createTestCa('maria-right', dir);
    const otherCa = createTestCa('maria-wrong', dir);
    const server = await start({ tls: ca.issue('localhost', ['DNS:localhost', 'IP:127.0.0.1']), database: 'partner' });
    const otherHostServer = await start({ tls: ca.issue('other', ['DNS:other.example']), database: 'partner' });
    for (const s of [server, otherHostServer]) {
      await s.exec(
        'create table t (id bigint primary key, email varchar(200), updated_at timestamp(6))',
        "insert into t values (1, 'a@example.com', '2024-01-01 00:00:00'), (2, 'b@example.com', '2024-01-02 00:00:00')",
        'create view v as select id, email, updated_at from t',
      );
    }
    return { store, ca, otherCa, server, otherHostServer };
  })());
  afterAll(async () => {
    await setUp?.catch(() => undefined);
    await Promise.all(started.map((s) => s.close()));
  });

  /** Connects with these TLS settings; the session's cipher (empty without TLS) and the view's row count. */
  async function readFrom(s: PrivateMariaDb, host: string, ssl: TlsSettings): Promise<{ cipher: string; rows: number }> {
    const source = openSource(settingsFor('mysql', `mysql://${RO_USER}:${RO_PASSWORD}@${host}:${s.port}/${s.database}`, { ssl }));
    try {
      return await source.withReadSession(async (session) => {
        const [status] = await session.raw("show session status like 'Ssl_cipher'");
        const [count] = await session.raw('select count(*) as n from v');
        return { cipher: String(status!.Value), rows: Number(count!.n) };
      });
    } finally {
      await source.close();
    }
  }

  test('verify-full with the right CA and host name pulls a connector over TLS', async ({ lab }) => {
    const { store, ca, server } = await mariaTls(lab);
    const connector = await registerYaml(store, 'maria_tls_ok',
      verifyFullConnector('tenant-maria-tls', { dialect: 'mysql', port: server.port, database: server.database }, ca.caFile));
    const [summary] = await lab.pull(store, connector);
    expect(summary!.error).toBeUndefined();
    expect(await readResources(store.db, 'tenant-maria-tls', 'contacts')).toEqual([
      { id: '1', email: 'a@example.com' }, { id: '2', email: 'b@example.com' },
    ]);
    expect(await readFrom(server, 'localhost', { mode: 'verify-full', ca: readFileSync(ca.caFile, 'utf8') })).toEqual({ cipher: expect.stringMatching(/\w/), rows: 2 });
  });

  test('verify-full accepts the IP address when the certificate names it', async ({ lab }) => {
    const { ca, server } = await mariaTls(lab);
    expect((await readFrom(server, '127.0.0.1', { mode: 'verify-full', ca: readFileSync(ca.caFile, 'utf8') })).rows).toBe(2);
  });

  test('verify-full refuses a certificate from an unknown CA', async ({ lab }) => {
    const { otherCa, server } = await mariaTls(lab);
    const error = await failure(readFrom(server, 'localhost', { mode: 'verify-full', ca: readFileSync(otherCa.caFile, 'utf8') }));
    expect(error.message).toMatch(/certificate/i);
  });

  test('verify-full refuses a certificate for another host name', async ({ lab }) => {
    const { ca, otherHostServer } = await mariaTls(lab);
    const error = await failure(readFrom(otherHostServer, 'localhost', { mode: 'verify-full', ca: readFileSync(ca.caFile, 'utf8') }));
    expect(error.message).toMatch(/other\.example|altnames|host/i);
  });

  test('require encrypts without checking the certificate', async ({ lab }) => {
    const { otherHostServer } = await mariaTls(lab);
    expect(await readFrom(otherHostServer, 'localhost', { mode: 'require' })).toEqual({ cipher: expect.stringMatching(/\w/), rows: 2 });
  });

  test('disable fails against a server that requires TLS; the same credentials pass over TLS', async ({ lab }) => {
    const { server } = await mariaTls(lab);
    // MariaDB answers a plaintext login under require_secure_transport with "Access denied".
    const error = await failure(readFrom(server, '127.0.0.1', { mode: 'disable' }));
    expect(error.code).toBe('RP_SOURCE_AUTH');
    expect(error.message).toContain('ssl.mode is disable: a server that requires TLS refuses a plaintext login this way');
    expect((await readFrom(server, '127.0.0.1', { mode: 'require' })).rows).toBe(2);
  });
});
