/**
 * The address the network policy checked is the address connected to. Found in review: the
 * SQL Server connector resolved the name twice, once to check it and once to connect, so a
 * DNS answer that changed in between (rebinding, TTL 0) sent the login to a refused host.
 * Only the resolver is replaced here (the attacker's DNS); the listener and socket are real.
 */
import net from 'node:net';
import { afterAll, describe, expect, test, vi } from 'vitest';

let lookups = 0;
vi.mock('node:dns/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:dns/promises')>();
  const lookup = (async (host: string, options?: unknown) => {
    if (host === 'rebind.example') {
      lookups++;
      // The first answer passes the policy (a public address); every later one is loopback.
      return [{ address: lookups === 1 ? '93.184.216.34' : '127.0.0.1', family: 4 }];
    }
    return (real.lookup as (h: string, o?: unknown) => Promise<unknown>)(host, options);
  }) as typeof real.lookup;
  return { ...real, default: { ...real, lookup }, lookup };
});

const { connectAllowed, networkPolicy } = await import('../../src/security/network-policy.ts');

describe('a connection through the network policy', () => {
  const servers: net.Server[] = [];
  afterAll(async () => {
    for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
  });

  test('goes to the address that was checked: a DNS answer that changes after the check reaches no loopback service', async () => {
    let connected = 0;
    const internal = net.createServer((s) => {
      connected++;
      s.destroy();
    });
    servers.push(internal);
    await new Promise<void>((r) => internal.listen(0, '127.0.0.1', () => r()));
    const port = (internal.address() as net.AddressInfo).port;
    // No private network allowed: loopback must stay unreachable.
    const attempt = connectAllowed({ host: 'rebind.example', port }, networkPolicy({}), 'SQL Server routing target', AbortSignal.timeout(1000));
    const socket = await attempt.catch(() => undefined);
    socket?.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect(connected, 'connections that reached the loopback service').toBe(0);
    expect(lookups, 'DNS lookups for one connection').toBe(1);
  });
});
