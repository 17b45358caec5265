/**
 * TLS for PostgreSQL tests without reconfiguring the local server: certificates made with
 * `openssl` at test time, and a proxy that answers PostgreSQL's SSLRequest with 'S',
 * terminates TLS with its certificate and pipes plaintext to the real server. Like a server
 * with `hostssl` only, it refuses a client that does not ask for TLS.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

export interface TestCa {
  dir: string;
  /** Path of the CA certificate (PEM). */
  caFile: string;
  /** Issues a server certificate for these subject alternative names (`DNS:x`, `IP:y`). */
  issue(name: string, altNames: string[]): { cert: string; key: string };
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A fresh self-signed CA in a new directory under `parent` (a lab's temp dir, removed with it). */
export function createTestCa(name: string, parent = tmpdir()): TestCa {
  const dir = mkdtempSync(path.join(parent, `rp-ca-${name}-`));
  openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', `/CN=reach-puller test CA ${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  return {
    dir,
    caFile: path.join(dir, 'ca.crt'),
    issue(server, altNames) {
      writeFileSync(path.join(dir, `${server}.ext`), `subjectAltName=${altNames.join(',')}\nextendedKeyUsage=serverAuth\n`);
      openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', `${server}.key`, '-out', `${server}.csr`, '-subj', `/CN=${altNames[0]!.replace(/^\w+:/, '')}`);
      openssl(dir, 'x509', '-req', '-in', `${server}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
        '-out', `${server}.crt`, '-days', '2', '-extfile', `${server}.ext`);
      return { cert: readFileSync(path.join(dir, `${server}.crt`), 'utf8'), key: readFileSync(path.join(dir, `${server}.key`), 'utf8') };
    },
  };
}

export interface TlsProxy {
  port: number;
  /** Connections that completed a TLS handshake. */
  readonly tlsSessions: number;
  /** Connections refused because they did not ask for TLS. */
  readonly plaintextRefused: number;
  close(): Promise<void>;
}

const SSL_REQUEST = 80877103;

/** PostgreSQL ErrorResponse, as a server with `hostssl` only answers a plaintext startup. */
function errorResponse(sqlstate: string, message: string): Buffer {
  const fields = Buffer.from(`SFATAL\0C${sqlstate}\0M${message}\0\0`, 'utf8');
  const head = Buffer.alloc(5);
  head.write('E', 0);
  head.writeInt32BE(fields.length + 4, 1);
  return Buffer.concat([head, fields]);
}

/** Starts a TLS-terminating proxy on 127.0.0.1 in front of a PostgreSQL server. */
export async function startPgTlsProxy(options: { cert: string; key: string; target: { host: string; port: number } }): Promise<TlsProxy> {
  const context = tls.createSecureContext({ cert: options.cert, key: options.key });
  let tlsSessions = 0;
  let plaintextRefused = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    client.once('readable', function first() {
      const head = client.read(8) as Buffer | null;
      if (!head) return client.once('readable', first);
      if (head.readInt32BE(0) !== 8 || head.readInt32BE(4) !== SSL_REQUEST) {
        plaintextRefused++;
        client.end(errorResponse('28000', 'connection requires TLS (test proxy)'));
        return;
      }
      client.write('S');
      const secure = new tls.TLSSocket(client, { isServer: true, secureContext: context });
      secure.on('error', () => client.destroy());
      secure.once('secure', () => {
        tlsSessions++;
        const upstream = net.connect(options.target.port, options.target.host);
        sockets.add(upstream);
        upstream.on('close', () => sockets.delete(upstream));
        upstream.on('error', () => secure.destroy());
        secure.pipe(upstream).pipe(secure);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    get tlsSessions() { return tlsSessions; },
    get plaintextRefused() { return plaintextRefused; },
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
