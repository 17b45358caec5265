/**
 * Where a partner session's credential may go. PostgreSQL: a server (or a man in the middle
 * under `ssl.mode: require`, which checks no certificate) that asks for the password in
 * cleartext or as md5 gets nothing unless the connector allows that method. SQL Server: a
 * routing redirect (read intent on an availability group) is connected to only if the
 * network policy passes its host, before any login is sent there.
 */
import net from 'node:net';
import { ALLOW_PRIVATE_ENV, networkPolicy } from '../../src/security/network-policy.ts';
import type { PasswordAuth } from '../../src/sources/connection-settings.ts';
import { mssqlSource } from '../../src/sources/mssql/mssql-source.ts';
import { openSource } from '../../src/sources/source-pools.ts';
import { settingsFor } from '../sources/source-fixtures.ts';
import { describe, expect, test } from '../fixture.ts';

const PASSWORD = 'p4ss-w0rd-do-not-send';

/** A PostgreSQL impostor: answers the startup with one password request and records what comes back. */
async function impostor(method: 'cleartext' | 'md5') {
  const received: Buffer[] = [];
  const server = net.createServer((socket) => {
    let startup = true;
    socket.on('data', (chunk: Buffer) => {
      if (startup) {
        startup = false;
        const request = method === 'cleartext'
          ? Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3])
          : Buffer.from([0x52, 0, 0, 0, 12, 0, 0, 0, 5, 1, 2, 3, 4]);
        socket.write(request);
        return;
      }
      received.push(chunk);
      const fields = Buffer.from('SFATAL\0C28P01\0Mpassword authentication failed\0\0');
      const header = Buffer.alloc(5);
      header.write('E');
      header.writeInt32BE(fields.length + 4, 1);
      socket.end(Buffer.concat([header, fields]));
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `postgres://reader:${PASSWORD}@127.0.0.1:${port}/partner`,
    /** Whatever the client sent after the password request. */
    answer: () => Buffer.concat(received),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

for (const method of ['cleartext', 'md5'] as const) {
  describe(`a PostgreSQL server asking for the password by ${method}`, () => {
    test('gets nothing by default, and the run fails RP_SOURCE_AUTH naming the method', async () => {
      const server = await impostor(method);
      const source = openSource(settingsFor('postgres', server.url));
      try {
        await expect(source.withReadSession((s) => s.raw('select 1'))).rejects.toMatchObject({
          code: 'RP_SOURCE_AUTH', message: expect.stringContaining(`by ${method}, which source.password_auth does not allow`),
        });
        expect(server.answer().length).toBe(0);
      } finally {
        await source.close();
        await server.close();
      }
    });

    test(`gets an answer when the connector allows ${method}`, async () => {
      const server = await impostor(method);
      const allowed: PasswordAuth[] = ['challenge', method === 'md5' ? 'hash' : 'password'];
      const source = openSource(settingsFor('postgres', server.url, { passwordAuth: allowed }));
      try {
        await expect(source.withReadSession((s) => s.raw('select 1'))).rejects.toMatchObject({ code: 'RP_SOURCE_AUTH' });
        const answer = server.answer();
        expect(answer[0]).toBe(0x70); // 'p': a PasswordMessage
        if (method === 'cleartext') expect(answer.toString()).toContain(PASSWORD);
        else expect(answer.toString()).toMatch(/md5[0-9a-f]{32}/);
      } finally {
        await source.close();
        await server.close();
      }
    });
  });
}

describe('SQL Server connections go through the network policy', () => {
  const settings = settingsFor('mssql', 'mssql://reader:pw@db.partner.example:1433/partner', {
    networkPolicy: networkPolicy({ [ALLOW_PRIVATE_ENV]: '127.0.0.0/8' }),
  });
  const { connector } = (mssqlSource.knexConfig(settings).connection as { options: { connector: (target: { host: string; port: number }, lookup: unknown, signal?: AbortSignal) => Promise<net.Socket> } }).options;

  test('a routing target on a cloud metadata address is refused before any connection', async () => {
    await expect(connector({ host: '169.254.169.254', port: 1433 }, undefined)).rejects.toMatchObject({
      code: 'RP_NETWORK_DENIED', message: expect.stringContaining('SQL Server routing target 169.254.169.254'),
    });
  });

  test('a routing target the policy allows is connected to (the checked address)', async () => {
    let connected = 0;
    const listener = net.createServer((s) => {
      connected++;
      s.end();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', () => resolve()));
    try {
      const socket = await connector({ host: '127.0.0.1', port: (listener.address() as net.AddressInfo).port }, undefined);
      socket.destroy();
      await new Promise((r) => setTimeout(r, 50));
      expect(connected).toBe(1);
    } finally {
      await new Promise<void>((r) => listener.close(() => r()));
    }
  });
});
