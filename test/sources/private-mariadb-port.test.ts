/**
 * rv19: issue 19 names "free ports found and bound later" as a flakiness risk of two copies of
 * the suite on one machine. startPrivateMariaDb still asks freePort() for a port, closes it,
 * and only then starts mariadbd on it: whatever binds that port in between (the other copy's
 * private server, TLS proxy or CLI, or any outgoing connection's local port) makes the start
 * fail. Here the port freePort() answers is taken before the server binds it, as the other
 * copy would: the start must still succeed (on another port).
 */
import net from 'node:net';
import { vi } from 'vitest';
import { TEST_DIALECTS } from '../helpers/partner.ts';
import { describe, expect, test } from '../fixture.ts';

const taken = net.createServer();
await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
const takenPort = (taken.address() as net.AddressInfo).port;

// The first port handed out is one another process holds by the time mariadbd binds it.
vi.mock('../helpers/free-port.ts', async (original) => {
  const real = await original<typeof import('../helpers/free-port.ts')>();
  let first = true;
  return { freePort: async () => (first ? ((first = false), takenPort) : real.freePort()) };
});

describe.skipIf(!TEST_DIALECTS.includes('mysql'))('private MariaDB start when its port is taken meanwhile', () => {
  test('starts anyway, on a port of its own', async () => {
    const { startPrivateMariaDb } = await import('../helpers/mariadb-private-server.ts');
    try {
      const server = await startPrivateMariaDb({ database: 'partner' });
      try {
        expect(server.port).not.toBe(takenPort);
      } finally {
        await server.close();
      }
    } finally {
      taken.close();
    }
  });
});
