/**
 * TLS to a partner PostgreSQL, proved through a TLS-terminating proxy with a CA made at
 * test time (the local server has no TLS and is not reconfigured): verify-full connects
 * only with the right CA and host name, require encrypts without checking, disable is
 * refused by a server that requires TLS.
 * MariaDB negotiates TLS inside its own handshake, so no proxy: the same checks run
 * against a private MariaDB server started with a certificate and TLS required (the shared
 * local server has SSL disabled).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pullConnector } from '../../src/engine/pull-connector.ts';
import { PullerError } from '../../src/errors.ts';
import type { TlsSettings } from '../../src/sources/connection-settings.ts';
import { openSource } from '../../src/sources/source-pools.ts';
import type { Store } from '../../src/store/open-store.ts';
import { emailStreamYaml, freshPartner, RO_PASSWORD, RO_USER, type Partner } from '../helpers/partner.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { readResources } from '../helpers/resources.ts';
import { freshStore, registerYaml } from '../helpers/store.ts';
import { startMariaDbTls, type MariaDbTlsServer } from '../helpers/mariadb-tls-server.ts';
import { createTestCa, startPgTlsProxy, type TestCa, type TlsProxy } from '../helpers/tls-proxy.ts';
import { settingsFor } from '../sources/source-fixtures.ts';
import { readFileSync } from 'node:fs';

/** The PullerError a connection attempt fails with. */
async function failure(promise: Promise<unknown>): Promise<PullerError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(PullerError);
  return error as PullerError;
}

/** A connector reading `v` through verify-full with the CA file named in its config. */
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
  let partner: Partner;
  let store: Store;
  let ca: TestCa;
  let otherCa: TestCa;
  let proxy: TlsProxy;
  let otherHostProxy: TlsProxy;
  const target = { host: '127.0.0.1', port: 5432 };

  beforeAll(async () => {
    partner = await freshPartner('postgres', 'rp_sec_tls');
    store = await freshStore('rp_sec_tls_store');
    await partner.exec(
      'create table t (id bigint primary key, email text, updated_at timestamptz)',
      "insert into t values (1, 'a@example.com', '2024-01-01T00:00:00Z'), (2, 'b@example.com', '2024-01-02T00:00:00Z')",
      'create view v as select id, email, updated_at from t',
    );
    await partner.grantReadOnly();
    ca = createTestCa('right');
    otherCa = createTestCa('wrong');
    proxy = await startPgTlsProxy({ ...ca.issue('localhost', ['DNS:localhost', 'IP:127.0.0.1']), target });
    otherHostProxy = await startPgTlsProxy({ ...ca.issue('other', ['DNS:other.example']), target });
  });
  afterAll(async () => {
    await proxy?.close();
    await otherHostProxy?.close();
    await store?.close();
  });

  /** Connects through a proxy with these TLS settings and reads one value. */
  async function readThrough(port: number, host: string, ssl: TlsSettings): Promise<unknown> {
    const source = openSource(settingsFor('postgres', `postgres://${RO_USER}:${RO_PASSWORD}@${host}:${port}/${partner.database}`, { ssl }));
    try {
      const rows = await source.withReadSession((s) => s.raw('select count(*)::int as n from v'));
      return rows[0]!.n;
    } finally {
      await source.close();
    }
  }

  it('verify-full with the right CA and host name pulls a connector (CA read from the file in the config)', async () => {
    const connector = await registerYaml(store, 'tls_ok',
      verifyFullConnector('tenant-tls', { dialect: 'postgres', port: proxy.port, database: partner.database }, ca.caFile));
    const sessions = proxy.tlsSessions;
    const [summary] = await pullConnector({ store: store.db, connector, log: testLog });
    expect(summary!.error).toBeUndefined();
    expect(proxy.tlsSessions).toBeGreaterThan(sessions);
    const rows = await partner.query<{ id: string; email: string }>('select id, email from v order by id');
    expect(await readResources(store.db, 'tenant-tls', 'contacts')).toEqual(rows.map((r) => ({ id: String(r.id), email: r.email })));
  });

  it('verify-full accepts the IP address when the certificate names it', async () => {
    expect(await readThrough(proxy.port, '127.0.0.1', { mode: 'verify-full', ca: readFileSync(ca.caFile, 'utf8') })).toBe(2);
  });

  it('verify-full refuses a certificate from an unknown CA', async () => {
    const error = await failure(readThrough(proxy.port, 'localhost', { mode: 'verify-full', ca: readFileSync(otherCa.caFile, 'utf8') }));
    expect(error.message).toMatch(/certificate/i);
  });

  it('verify-full refuses a certificate for another host name', async () => {
    const error = await failure(readThrough(otherHostProxy.port, 'localhost', { mode: 'verify-full', ca: readFileSync(ca.caFile, 'utf8') }));
    expect(error.message).toMatch(/other\.example|altnames|host/i);
  });

  it('require encrypts without checking the certificate', async () => {
    const sessions = otherHostProxy.tlsSessions;
    expect(await readThrough(otherHostProxy.port, 'localhost', { mode: 'require' })).toBe(2);
    expect(otherHostProxy.tlsSessions).toBeGreaterThan(sessions);
  });

  it('disable fails against a server that requires TLS', async () => {
    const refused = proxy.plaintextRefused;
    await failure(readThrough(proxy.port, '127.0.0.1', { mode: 'disable' }));
    expect(proxy.plaintextRefused).toBeGreaterThan(refused);
  });
});

describe('TLS to MariaDB (a private server that requires TLS)', () => {
  let store: Store;
  let ca: TestCa;
  let otherCa: TestCa;
  let server: MariaDbTlsServer;
  let otherHostServer: MariaDbTlsServer;

  beforeAll(async () => {
    store = await freshStore('rp_sec_tls_mariadb_store');
    ca = createTestCa('maria-right');
    otherCa = createTestCa('maria-wrong');
    server = await startMariaDbTls({ ...ca.issue('localhost', ['DNS:localhost', 'IP:127.0.0.1']), database: 'partner' });
    otherHostServer = await startMariaDbTls({ ...ca.issue('other', ['DNS:other.example']), database: 'partner' });
    for (const s of [server, otherHostServer]) {
      await s.exec(
        'create table t (id bigint primary key, email varchar(200), updated_at timestamp(6))',
        "insert into t values (1, 'a@example.com', '2024-01-01 00:00:00'), (2, 'b@example.com', '2024-01-02 00:00:00')",
        'create view v as select id, email, updated_at from t',
      );
    }
  });
  afterAll(async () => {
    await server?.close();
    await otherHostServer?.close();
    await store?.close();
  });

  /** Connects with these TLS settings; the session's cipher (empty without TLS) and the view's row count. */
  async function readFrom(s: MariaDbTlsServer, host: string, ssl: TlsSettings): Promise<{ cipher: string; rows: number }> {
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

  it('verify-full with the right CA and host name pulls a connector over TLS', async () => {
    const connector = await registerYaml(store, 'maria_tls_ok',
      verifyFullConnector('tenant-maria-tls', { dialect: 'mysql', port: server.port, database: server.database }, ca.caFile));
    const [summary] = await pullConnector({ store: store.db, connector, log: testLog });
    expect(summary!.error).toBeUndefined();
    expect(await readResources(store.db, 'tenant-maria-tls', 'contacts')).toEqual([
      { id: '1', email: 'a@example.com' }, { id: '2', email: 'b@example.com' },
    ]);
    expect(await readFrom(server, 'localhost', { mode: 'verify-full', ca: readFileSync(ca.caFile, 'utf8') })).toEqual({ cipher: expect.stringMatching(/\w/), rows: 2 });
  });

  it('verify-full accepts the IP address when the certificate names it', async () => {
    expect((await readFrom(server, '127.0.0.1', { mode: 'verify-full', ca: readFileSync(ca.caFile, 'utf8') })).rows).toBe(2);
  });

  it('verify-full refuses a certificate from an unknown CA', async () => {
    const error = await failure(readFrom(server, 'localhost', { mode: 'verify-full', ca: readFileSync(otherCa.caFile, 'utf8') }));
    expect(error.message).toMatch(/certificate/i);
  });

  it('verify-full refuses a certificate for another host name', async () => {
    const error = await failure(readFrom(otherHostServer, 'localhost', { mode: 'verify-full', ca: readFileSync(ca.caFile, 'utf8') }));
    expect(error.message).toMatch(/other\.example|altnames|host/i);
  });

  it('require encrypts without checking the certificate', async () => {
    expect(await readFrom(otherHostServer, 'localhost', { mode: 'require' })).toEqual({ cipher: expect.stringMatching(/\w/), rows: 2 });
  });

  it('disable fails against a server that requires TLS; the same credentials pass over TLS', async () => {
    // MariaDB answers a plaintext login under require_secure_transport with "Access denied".
    const error = await failure(readFrom(server, '127.0.0.1', { mode: 'disable' }));
    expect(error.code).toBe('RP_SOURCE_AUTH');
    expect(error.message).toContain('ssl.mode is disable: a server that requires TLS refuses a plaintext login this way');
    expect((await readFrom(server, '127.0.0.1', { mode: 'require' })).rows).toBe(2);
  });
});
