/**
 * A MySQL impostor on loopback: it greets with a password method, insists on it as a real
 * server does (an AuthSwitchRequest when the client answered with another), asks for
 * whatever yields the password (caching_sha2_password full authentication, sha256_password,
 * mysql_clear_password), hands out its own RSA key when asked, and records the password it
 * recovers. After the review of issue 14 (review-helpers.ts `fakeMysql`).
 */
import { constants, generateKeyPairSync, privateDecrypt, randomBytes } from 'node:crypto';
import net from 'node:net';

export type ImpostorMethod = 'caching_sha2_password' | 'sha256_password' | 'mysql_clear_password' | 'mysql_native_password';

export interface ImpostorOptions {
  method: ImpostorMethod;
  /** caching_sha2_password: the token matched the "cache" (fast authentication), log in. */
  fastAuth?: boolean;
  /** Ask for full authentication right after the first answer, whatever its method (the review's fake). */
  ignoreClientMethod?: boolean;
}

const packet = (seq: number, payload: Buffer) => {
  const h = Buffer.alloc(4);
  h.writeUIntLE(payload.length, 0, 3);
  h[3] = seq & 0xff;
  return Buffer.concat([h, payload]);
};
const OK = Buffer.from([0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00]);
const DENIED = Buffer.concat([Buffer.from([0xff, 0x15, 0x04]), Buffer.from('#28000Access denied')]);

/** Starts an impostor; `recovered()` lists the passwords it got, `logins()` how many it let in. */
export async function mysqlImpostor(options: ImpostorOptions) {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = Buffer.from(publicKey.export({ type: 'spki', format: 'pem' }) as string);
  const recovered: string[] = [];
  let logins = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    const scramble = randomBytes(20).map((b) => (b % 90) + 33); // printable, no NUL
    const caps = 0x00000001 | 0x00000004 | 0x00000008 | 0x00000200 | 0x00002000 | 0x00008000 | 0x00080000 | 0x00100000 | 0x00200000;
    const hello = Buffer.concat([
      Buffer.from([10]), Buffer.from('8.0.99-impostor\0'), Buffer.from([1, 0, 0, 0]),
      scramble.subarray(0, 8), Buffer.from([0]),
      Buffer.from([caps & 0xff, (caps >> 8) & 0xff]), Buffer.from([45]), Buffer.from([2, 0]),
      Buffer.from([(caps >> 16) & 0xff, (caps >> 24) & 0xff]), Buffer.from([21]), Buffer.alloc(10),
      scramble.subarray(8, 20), Buffer.from([0]), Buffer.from(`${options.method}\0`),
    ]);
    socket.write(packet(0, hello));
    const unscramble = (plain: Buffer) => {
      const out = Buffer.alloc(plain.length);
      for (let i = 0; i < plain.length; i++) out[i] = plain[i]! ^ scramble[i % scramble.length]!;
      return out.toString('utf8').replace(/\0$/, '');
    };
    const decrypt = (payload: Buffer) =>
      unscramble(privateDecrypt({ key: privateKey, oaepHash: 'sha1', padding: constants.RSA_PKCS1_OAEP_PADDING }, payload));
    let buffered = Buffer.alloc(0);
    // greeting answered -> (switched to our method) -> token sent -> key sent -> done
    let step: 'response' | 'switched' | 'token' | 'key' | 'done' = 'response';
    const deny = (seq: number) => {
      step = 'done';
      socket.end(packet(seq + 1, DENIED));
    };
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4) {
        const len = buffered.readUIntLE(0, 3);
        if (buffered.length < 4 + len) return;
        const seq = buffered[3]!;
        const payload = buffered.subarray(4, 4 + len);
        buffered = buffered.subarray(4 + len);
        if (step === 'response') {
          const usedOurs = payload.toString('latin1').includes(`${options.method}\0`);
          if (!usedOurs && !options.ignoreClientMethod) {
            // As a server does: insist on the user's method.
            step = 'switched';
            socket.write(packet(seq + 1, Buffer.concat([Buffer.from([0xfe]), Buffer.from(`${options.method}\0`), scramble, Buffer.from([0])])));
            continue;
          }
          step = 'switched';
        }
        if (step === 'switched') {
          // The client's answer to the method: a token, a key request, or the password.
          if (options.method === 'mysql_native_password') {
            logins++;
            step = 'done';
            socket.write(packet(seq + 1, OK));
          } else if (options.method === 'caching_sha2_password') {
            if (options.fastAuth) {
              logins++;
              step = 'done';
              socket.write(Buffer.concat([packet(seq + 1, Buffer.from([0x01, 0x03])), packet(seq + 2, OK)]));
            } else {
              step = 'token';
              socket.write(packet(seq + 1, Buffer.from([0x01, 0x04]))); // perform full authentication
            }
          } else if (options.method === 'mysql_clear_password') {
            recovered.push(payload.toString('utf8').replace(/\0$/, ''));
            deny(seq);
          } else if (payload.length === 1 && payload[0] === 0x01) {
            step = 'key'; // sha256_password asks for the key
            socket.write(packet(seq + 1, Buffer.concat([Buffer.from([0x01]), pem])));
          } else {
            recovered.push(payload.toString('utf8').replace(/\0$/, ''));
            deny(seq);
          }
        } else if (step === 'token') {
          if (payload.length === 1 && payload[0] === 0x02) {
            step = 'key'; // caching_sha2_password asks for the key
            socket.write(packet(seq + 1, Buffer.concat([Buffer.from([0x01]), pem])));
          } else {
            recovered.push(payload.toString('utf8').replace(/\0$/, '')); // in clear (TLS)
            deny(seq);
          }
        } else if (step === 'key') {
          recovered.push(decrypt(payload));
          deny(seq);
        } else {
          socket.end();
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    recovered: () => [...recovered],
    logins: () => logins,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
