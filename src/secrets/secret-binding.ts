/**
 * Where a stored secret may be sent: its binding, set by the operator who stores it
 * (`secret set NAME --for DESTINATION`) and sealed with it (secret-cipher.ts), so neither a
 * connector's author nor a write to the store's `binding` column can re-aim it.
 *
 * A destination is written as a URL without a path:
 * - a partner source: `<dialect>://<user>@<host>:<port>` (`postgres://rp_ro@db.glow.example:5432`).
 *   The database is not part of it: the password authenticates its user to that server,
 *   whichever database the connector opens, so naming one would restrict nothing the
 *   partner's grants do not;
 * - a Reach API: its origin (`https://eu.reach.example`), for a `reach.token`.
 * Both sides are compared in one canonical form: lower-case host, IPv6 in brackets, the
 * dialect's default port filled in, the user percent-encoded.
 */
import { ConfigError } from '../errors.ts';
import type { Dialect } from '../interfaces.ts';
import { DEFAULT_PORTS } from '../config/source-identity.ts';

const DIALECTS = Object.keys(DEFAULT_PORTS) as Dialect[];

/** Where a reference will be sent: which connector, which field, and the destination in canonical form. */
export interface SecretUse {
  connector: string;
  field: 'source.password' | 'reach.token';
  destination: string;
}

/** The canonical destination of a connector's source: `<dialect>://<user>@<host>:<port>`. */
export function sourceDestination(s: { dialect: Dialect; user: string; host: string; port?: number }): string {
  const host = s.host.toLowerCase().replace(/^\[|\]$/g, '');
  return `${s.dialect}://${encodeURIComponent(s.user)}@${host.includes(':') ? `[${host}]` : host}:${s.port ?? DEFAULT_PORTS[s.dialect]}`;
}

/** The canonical destination of a Reach URL: its origin. */
export function reachDestination(apiUrl: string): string {
  return new URL(apiUrl).origin;
}

/** Parses `--for DESTINATION` into its canonical form, or throws a ConfigError saying what a destination looks like. */
export function parseBinding(text: string): string {
  const refuse = (message: string) => new ConfigError([{ path: '--for', message: `"${text}": ${message}` }]);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw refuse(`not a destination; write the source as <dialect>://<user>@<host>:<port> (${DIALECTS.join(', ')}) or a Reach API origin (https://reach.example)`);
  }
  if (url.password) throw refuse('a destination holds no password');
  if (url.search || url.hash) throw refuse('a destination has no query or fragment');
  const scheme = url.protocol.slice(0, -1);
  if (scheme === 'https' || scheme === 'http') {
    if (url.username) throw refuse('a Reach API origin holds no user');
    if (url.pathname !== '/' && url.pathname !== '') throw refuse('bind a Reach token to the origin only (scheme, host and port), without a path');
    return url.origin;
  }
  if (!(DIALECTS as string[]).includes(scheme)) throw refuse(`unknown dialect "${scheme}"; use ${DIALECTS.join(', ')}, or https for a Reach API`);
  if (!url.username) throw refuse('name the user the password is for: <dialect>://<user>@<host>:<port>');
  if (!url.hostname) throw refuse('name the host');
  if (url.pathname !== '' && url.pathname !== '/') {
    throw refuse('the database is not part of a binding (the password authenticates the user to the server, whichever database): drop the path');
  }
  return sourceDestination({
    dialect: scheme as Dialect, user: decodeURIComponent(url.username), host: url.hostname,
    port: url.port ? Number(url.port) : undefined,
  });
}

/**
 * Why a stored secret may not be sent where `use` says, or undefined when its binding allows
 * it. It names the secret, never the value; for an unbound secret it gives the command that
 * binds one, with a placeholder rather than this connector's destination, which whoever
 * wrote the connector chose.
 */
export function bindingRefusal(name: string, binding: string | null, use: Pick<SecretUse, 'field' | 'destination'> | undefined): string | undefined {
  if (binding === null) {
    const example = use?.field === 'reach.token' ? 'https://<reach-host>' : '<dialect>://<user>@<host>:<port>';
    return `secret ${name} is bound to no destination, so no connector may send it; bind it to where it belongs: ` +
      `\`reach-puller secret bind ${name} --for ${example}\``;
  }
  if (!use) return `secret ${name} is released only to the destination it is bound to, and this use names none`;
  if (binding !== use.destination) {
    return `secret ${name} is bound to another destination than ${use.destination} (\`reach-puller secret list\` shows its binding)`;
  }
  return undefined;
}

/** The refusal as the error says it: which connector, which field, which secret. */
export function bindingRefusalMessage(use: SecretUse | undefined, reason: string): string {
  return use ? `connector ${use.connector}, ${use.field}: ${reason}` : reason;
}
