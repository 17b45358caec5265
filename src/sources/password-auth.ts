/**
 * Password methods, named by what they put on the wire: the terms of `source.password_auth`
 * in every dialect. A server asks for the method; whoever answers at its address can ask for
 * the one that gives it most, so a session answers only the methods its connector allows.
 *
 * - `challenge`: a proof bound to the server's one-time challenge, nothing that logs in
 *   again (PostgreSQL SCRAM-SHA-256; MySQL mysql_native_password and caching_sha2_password
 *   fast authentication). Always answered.
 * - `hash`: a hash of the password that logs in again (PostgreSQL md5).
 * - `password`: the password itself, in clear or encrypted to a key the server hands out
 *   (PostgreSQL cleartext; MySQL caching_sha2_password full authentication, sha256_password,
 *   mysql_clear_password).
 */
import { PermanentError } from '../errors.ts';
import type { PasswordAuth } from './connection-settings.ts';

/** What each value lets a session send, as messages say it. */
export const PASSWORD_AUTH_SENDS: Record<PasswordAuth, string> = {
  challenge: 'a proof bound to the server\'s challenge',
  hash: 'a hash of the password that logs in again',
  password: 'the password itself',
};

/**
 * The RP_SOURCE_AUTH error for a password request the connector does not allow, raised
 * before anything of the password leaves: `method` as the server asked, `sends` its class.
 */
export function passwordMethodRefused(sourceName: string, method: string, sends: PasswordAuth, allowed: readonly PasswordAuth[], advice: string): PermanentError {
  return new PermanentError('RP_SOURCE_AUTH',
    `${sourceName} asked for the password by ${method}, which source.password_auth does not allow: it sends ` +
      `${PASSWORD_AUTH_SENDS[sends]} (\`${sends}\`; allowed: ${allowed.join(', ')}); nothing of the password was sent. ${advice}`);
}
