/**
 * A TCP proxy on loopback in front of a server, for one simulated process's connections:
 * killing it ends every connection through it at once and refuses the next, as the network
 * does for a process that died.
 */
import net from 'node:net';

export interface TcpProxy {
  /** `http://127.0.0.1:<port>`, for an HTTP server behind it. */
  url: string;
  /** Ends every connection through the proxy and refuses new ones. */
  kill(): void;
  /** Ends every connection through the proxy; new ones are let through. */
  dropConnections(): void;
  /** The latency of connections opened from now on (open ones keep theirs). */
  setLatency(ms: number): void;
  close(): Promise<void>;
}

/** A proxy to `target` (`http://host:port`) that holds every chunk `latencyMs` on its way, as a slow network does. */
export async function startTcpProxy(target: string, latencyMs = 0): Promise<TcpProxy> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<net.Socket>();
  let dead = false;
  const server = net.createServer((client) => {
    if (dead) {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(port), hostname);
    const delay = latencyMs;
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    const forward = (from: net.Socket, to: net.Socket) => from.on('data', (chunk: Buffer) => {
      setTimeout(() => !to.destroyed && to.write(chunk), delay);
    });
    forward(client, upstream);
    forward(upstream, client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    setLatency: (ms) => {
      latencyMs = ms;
    },
    dropConnections: () => {
      for (const s of sockets) s.destroy();
    },
    kill: () => {
      dead = true;
      for (const s of sockets) s.destroy();
    },
    close: () => new Promise<void>((resolve) => {
      dead = true;
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
