/**
 * The resolved settings a Source is built from: the connector's `source` block after its
 * password reference has been resolved. Never log a ConnectionSettings value: it holds the
 * password in plain text. Log `sourceIdentity(settings)` instead.
 */
import type { Dialect } from '../interfaces.ts';
import type { NetworkPolicy } from '../security/network-policy.ts';

/**
 * What a password method may send, the terms of `source.password_auth` (password-auth.ts):
 * `challenge` a proof bound to the server's challenge (always answered), `hash` a hash that
 * logs in again, `password` the password itself, to whoever asks: a server impersonated
 * under `require` TLS (no certificate check), or with none, can ask.
 */
export type PasswordAuth = 'challenge' | 'hash' | 'password';

/** How the connection to the partner database is encrypted. */
export interface TlsSettings {
  /** disable: plain TCP; require: encrypted, certificate not checked; verify-full: CA and host name checked. */
  mode: 'disable' | 'require' | 'verify-full';
  /** PEM text of the CA that signed the server certificate (verify-full). */
  ca?: string;
}

export interface ConnectionSettings {
  dialect: Dialect;
  host: string;
  port: number;
  database: string;
  user: string;
  /** Resolved plaintext; never logged, scrubbed from every error message. */
  password: string;
  /** IANA zone of timestamp-without-time-zone / DATETIME values. */
  timezone: string;
  ssl: TlsSettings;
  /** Cap on connections to this source, shared by every connector that uses it. */
  maxConnections: number;
  statementTimeoutSeconds: number;
  /** Client-side bound on opening a connection (TCP, TLS and login). */
  connectTimeoutSeconds: number;
  /** What the password methods answered may send (default: challenge-response only). */
  passwordAuth: PasswordAuth[];
  /** Every host a session connects to passes it, a SQL Server routing target too. */
  networkPolicy: NetworkPolicy;
}
