/**
 * The pg.Client partner sessions run on.
 *
 * It answers only the password methods its connector allows (`source.password_auth`, SCRAM
 * only by default: password-auth.ts). SCRAM proves the password without sending it; md5
 * hands over a hash that logs in again, and cleartext the password itself, to whoever asks,
 * and under `ssl.mode: require` (no certificate check) a man in the middle can ask. node-postgres answers every method it
 * knows, so this client refuses the others before anything of the password leaves.
 *
 * And it tells a connect that the network ended from one the server refused: node-postgres
 * reports both with plain, code-less errors, but only the first is worth retrying.
 */
import { createRequire } from 'node:module';
import type { Knex } from 'knex';
import pg from 'pg';
import { markConnectionLost } from '../error-codes.ts';
import type { PasswordAuth } from '../connection-settings.ts';
import { passwordMethodRefused } from '../password-auth.ts';

const require = createRequire(import.meta.url);
// knex's own PostgreSQL client; only the driver it hands connections to changes.
const KnexPgClient = require('knex/lib/dialects/postgres/index.js') as typeof Knex.Client;

/** pg.Client's handlers of the server's password requests, and what it reports a failed connect with. */
interface ClientInternals {
  connection: { stream: { destroy(): void; bytesRead?: number } };
  _connect(callback: (error?: Error) => void): void;
  _handleErrorEvent(error: Error): void;
  _handleAuthCleartextPassword(message: unknown): void;
  _handleAuthMD5Password(message: unknown): void;
}

/** `connection` settings of a guarded pool: pg's, plus the methods allowed and the source's name for messages. */
export interface GuardedConnection extends pg.ClientConfig {
  passwordAuth: PasswordAuth[];
  sourceName: string;
}

class GuardedClient extends pg.Client {
  readonly #allowed: PasswordAuth[];
  readonly #sourceName: string;

  constructor(config: GuardedConnection) {
    super(config);
    this.#allowed = config.passwordAuth;
    this.#sourceName = config.sourceName;
  }

  _connect(callback: (error?: Error) => void): void {
    const self = this as unknown as ClientInternals;
    (pg.Client.prototype as unknown as ClientInternals)._connect.call(this, (error?: Error) => {
      // Not a byte from the server: the connection was lost or never made (a failover, a reset,
      // a black hole the connect timeout ended). A server that answered and then refused has spoken.
      if (error && !(error as { code?: unknown }).code && !self.connection.stream.bytesRead) markConnectionLost(error);
      callback(error);
    });
  }

  _handleAuthCleartextPassword(message: unknown): void {
    this.#answer('cleartext', 'password', () => (pg.Client.prototype as unknown as ClientInternals)._handleAuthCleartextPassword.call(this, message));
  }

  _handleAuthMD5Password(message: unknown): void {
    this.#answer('md5', 'hash', () => (pg.Client.prototype as unknown as ClientInternals)._handleAuthMD5Password.call(this, message));
  }

  #answer(method: 'cleartext' | 'md5', sends: PasswordAuth, answer: () => void): void {
    if (this.#allowed.includes(sends)) return answer();
    const self = this as unknown as ClientInternals;
    self._handleErrorEvent(passwordMethodRefused(this.#sourceName, method, sends, this.#allowed,
      `Use a SCRAM user (password_encryption = scram-sha-256), or allow ${sends} if the server really is configured so`));
    self.connection.stream.destroy();
  }
}

/** knex's PostgreSQL client on the guarded pg.Client. */
export class GuardedKnexPgClient extends KnexPgClient {
  _driver(): typeof pg {
    return { ...pg, Client: GuardedClient as unknown as typeof pg.Client };
  }
}
