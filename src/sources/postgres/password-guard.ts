/**
 * A PostgreSQL session answers only the password methods its connector allows (`source.
 * password_auth`, SCRAM by default). SCRAM proves the password without sending it; md5 hands
 * over a hash that logs in again, and cleartext the password itself, to whoever asks, and
 * under `ssl.mode: require` (no certificate check) a man in the middle can ask. node-postgres
 * answers every method it knows, so the knex client here uses a pg.Client that refuses the
 * others before anything of the password leaves.
 */
import { createRequire } from 'node:module';
import type { Knex } from 'knex';
import pg from 'pg';
import { PermanentError } from '../../errors.ts';
import type { PasswordAuth } from '../connection-settings.ts';

const require = createRequire(import.meta.url);
// knex's own PostgreSQL client; only the driver it hands connections to changes.
const KnexPgClient = require('knex/lib/dialects/postgres/index.js') as typeof Knex.Client;

/** pg.Client's handlers of the server's password requests, and what it reports a failed connect with. */
interface ClientInternals {
  connection: { stream: { destroy(): void } };
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

  _handleAuthCleartextPassword(message: unknown): void {
    this.#answer('cleartext', () => (pg.Client.prototype as unknown as ClientInternals)._handleAuthCleartextPassword.call(this, message));
  }

  _handleAuthMD5Password(message: unknown): void {
    this.#answer('md5', () => (pg.Client.prototype as unknown as ClientInternals)._handleAuthMD5Password.call(this, message));
  }

  #answer(method: PasswordAuth, answer: () => void): void {
    if (this.#allowed.includes(method)) return answer();
    const self = this as unknown as ClientInternals;
    self._handleErrorEvent(new PermanentError('RP_SOURCE_AUTH',
      `${this.#sourceName} asked for the password by ${method}, which source.password_auth does not allow ` +
        `(${this.#allowed.join(', ')}); nothing of the password was sent. Use a SCRAM user (password_encryption = scram-sha-256), ` +
        `or allow ${method} if the server really is configured so`));
    self.connection.stream.destroy();
  }
}

/** knex's PostgreSQL client on the guarded pg.Client. */
export class GuardedKnexPgClient extends KnexPgClient {
  _driver(): typeof pg {
    return { ...pg, Client: GuardedClient as unknown as typeof pg.Client };
  }
}
