/**
 * A fault-injecting TCP proxy on loopback in front of a server (a partner database, the
 * store, a Reach API): latency, a bandwidth cap, a black hole (connections stay open, nothing passes, as a
 * dead NAT entry or a hung host behaves), resets, and death of a simulated process's network
 * (every connection ended, new ones refused).
 */
import net from 'node:net';

type Fault = 'blackHole' | 'reset' | 'close';

export interface TcpProxy {
  /** `http://127.0.0.1:<port>`, for an HTTP server behind it. */
  url: string;
  /** The proxy's port, for a database client. */
  port: number;
  /** Ends every connection through the proxy and refuses new ones. */
  kill(): void;
  /** Ends every connection through the proxy; new ones are let through. */
  dropConnections(): void;
  /** Resets (TCP RST) every connection through the proxy; new ones are let through. */
  reset(): void;
  /** From now on nothing passes either way, on open connections and new ones, and nothing is closed. */
  blackHole(): void;
  /**
   * Black-holes, resets (RST) or closes (FIN, as a proxy restart or a failover does) every
   * connection the moment a client sends `text` for the `occurrence`-th time (the chunk
   * carrying it is swallowed): a fault at a chosen statement.
   */
  faultWhenClientSends(text: string, fault: Fault, occurrence?: number): Promise<void>;
  /** Lets traffic pass again (what was swallowed stays lost). */
  restore(): void;
  /** Caps each direction of every connection at `bytesPerSecond` (0: no cap), as a thin link does. */
  setBandwidth(bytesPerSecond: number): void;
  /** The latency of connections opened from now on (open ones keep theirs). */
  setLatency(ms: number): void;
  close(): Promise<void>;
}

/** A proxy to `target` (`http://host:port`) that holds every chunk `latencyMs` on its way, as a slow network does. */
export async function startTcpProxy(target: string, latencyMs = 0): Promise<TcpProxy> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<net.Socket>();
  let dead = false;
  let silent = false;
  let bandwidth = 0;
  let trigger: { text: string; fault: Fault; left: number; fired: () => void } | undefined;
  const resetAll = () => {
    for (const s of sockets) s.resetAndDestroy();
  };
  // Half-open allowed, so a FIN passes only when the proxy forwards it: a black hole swallows
  // it too, and a goodbye (a client's end()) waits there as it would on a dead link.
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    if (dead) {
      client.destroy();
      return;
    }
    const upstream = net.connect({ port: Number(port), host: hostname, allowHalfOpen: true });
    const delay = latencyMs;
    const linkFree = new Map<net.Socket, number>();
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    const forward = (from: net.Socket, to: net.Socket) => from.on('data', (chunk: Buffer) => {
      if (from === client && trigger && chunk.includes(trigger.text) && --trigger.left === 0) {
        if (trigger.fault === 'reset') resetAll();
        else if (trigger.fault === 'close') for (const s of sockets) s.destroy();
        else silent = true;
        trigger.fired();
        trigger = undefined;
      }
      if (silent) return;
      // A capped link: the chunk leaves when the bytes before it on this link have.
      const sendAt = Math.max(Date.now(), (linkFree.get(to) ?? 0)) + (bandwidth > 0 ? (chunk.length / bandwidth) * 1000 : 0);
      linkFree.set(to, sendAt);
      setTimeout(() => !to.destroyed && !silent && to.write(chunk), delay + sendAt - Date.now());
    });
    forward(client, upstream);
    forward(upstream, client);
    for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
      // After the last chunk on that link has left.
      from.on('end', () => !silent && setTimeout(() => to.end(), delay + Math.max(0, (linkFree.get(to) ?? 0) - Date.now())));
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    setBandwidth: (bytesPerSecond) => {
      bandwidth = bytesPerSecond;
    },
    setLatency: (ms) => {
      latencyMs = ms;
    },
    dropConnections: () => {
      for (const s of sockets) s.destroy();
    },
    reset: resetAll,
    faultWhenClientSends: (text, fault, occurrence = 1) => new Promise<void>((fired) => {
      trigger = { text, fault, left: occurrence, fired };
    }),
    blackHole: () => {
      silent = true;
    },
    restore: () => {
      silent = false;
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
