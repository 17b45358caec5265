/**
 * The password methods a MySQL / MariaDB session answers: only those its connector allows
 * (`source.password_auth`, challenge-response only by default: password-auth.ts).
 *
 * mysql2 answers whatever the server asks. caching_sha2_password "full authentication", and
 * sha256_password, send the password itself: RSA-encrypted under a public key the server
 * hands out when there is no TLS, in clear inside TLS when there is (under `require`, TLS to
 * whoever answers); mysql_clear_password sends it in clear. So these handlers, given to
 * mysql2 as `authPlugins`, refuse those requests before anything of the password is
 * written, while mysql_native_password and caching_sha2_password's fast authentication (a
 * token bound to the server's scramble) work as before.
 *
 * Supplying a handler also stops mysql2 from sending the password directly in its first
 * answer when the server's greeting names sha256_password or mysql_clear_password under TLS:
 * it answers with a mysql_native_password token instead, and the server has to ask again.
 */
import { authPlugins as standard, type AuthPlugin } from 'mysql2';
import type { PasswordAuth } from '../connection-settings.ts';
import { passwordMethodRefused } from '../password-auth.ts';

// caching_sha2_password: after the scrambled token, the server's AuthMoreData byte 3 says it
// matched its cache; 4 asks for the password itself.
const PERFORM_FULL_AUTHENTICATION = 0x04;

const ADVICE = 'Use a mysql_native_password user, or a caching_sha2_password user the server has cached (it forgets at restart); ' +
  'or allow password together with ssl.mode: verify-full, so that only the server the certificate names receives it';

/** mysql2 `authPlugins` that answer only what `allowed` permits; refusals fail RP_SOURCE_AUTH naming `sourceName` and the method. */
export function guardedAuthPlugins(allowed: readonly PasswordAuth[], sourceName: string): Record<string, AuthPlugin> {
  // mysql2's own handlers; mysql_clear_password it answers only when given one.
  if (allowed.includes('password')) return { mysql_clear_password: standard.mysql_clear_password({}) };
  // Thrown synchronously: mysql2 then ends the handshake with this error, code intact.
  const refuse = (method: string): never => {
    throw passwordMethodRefused(sourceName, method, 'password', allowed, ADVICE);
  };
  return {
    caching_sha2_password: (meta) => {
      const answer = standard.caching_sha2_password({})(meta);
      let tokenSent = false;
      return (data) => {
        if (tokenSent && data.length === 1 && data[0] === PERFORM_FULL_AUTHENTICATION) refuse('caching_sha2_password full authentication');
        tokenSent = true;
        return answer(data);
      };
    },
    sha256_password: () => () => refuse('sha256_password'),
    mysql_clear_password: () => () => refuse('mysql_clear_password'),
  };
}
