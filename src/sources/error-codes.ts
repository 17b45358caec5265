/**
 * Driver errors classified by tables of codes, never by message text: what can succeed on
 * retry becomes a TransientError, the rest a PermanentError with the code that tells the
 * operator what to do. An error without a known code is transient when it came with the loss
 * of its connection (a failover, a proxy reset), which drivers report without a code.
 * Messages are scrubbed of the password: drivers can echo it.
 */
import knex from 'knex';
import type { Dialect } from '../interfaces.ts';
import type { TlsSettings } from './connection-settings.ts';
import { PermanentError, PullerError, TransientError, type ErrorCode } from '../errors.ts';
import { remoteText } from '../remote-text.ts';

interface Outcome {
  transient: boolean;
  code: ErrorCode;
}

const transient = (code: ErrorCode): Outcome => ({ transient: true, code });
const permanent = (code: ErrorCode): Outcome => ({ transient: false, code });

/** Node socket and DNS error codes (`error.code`), shared by every driver. */
export const NETWORK_CODES: Record<string, Outcome> = {
  ECONNREFUSED: transient('RP_SOURCE_UNREACHABLE'),
  ECONNRESET: transient('RP_SOURCE_UNREACHABLE'),
  ECONNABORTED: transient('RP_SOURCE_UNREACHABLE'),
  EPIPE: transient('RP_SOURCE_UNREACHABLE'),
  EHOSTUNREACH: transient('RP_SOURCE_UNREACHABLE'),
  ENETUNREACH: transient('RP_SOURCE_UNREACHABLE'),
  ENOTFOUND: transient('RP_SOURCE_UNREACHABLE'),
  EAI_AGAIN: transient('RP_SOURCE_UNREACHABLE'),
  ETIMEDOUT: transient('RP_SOURCE_TIMEOUT'),
  PROTOCOL_CONNECTION_LOST: transient('RP_SOURCE_UNREACHABLE'),
  // TLS verification failures: retrying cannot help until the CA or host name is fixed.
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: permanent('RP_SOURCE_UNREACHABLE'),
  SELF_SIGNED_CERT_IN_CHAIN: permanent('RP_SOURCE_UNREACHABLE'),
  DEPTH_ZERO_SELF_SIGNED_CERT: permanent('RP_SOURCE_UNREACHABLE'),
  CERT_HAS_EXPIRED: permanent('RP_SOURCE_UNREACHABLE'),
  ERR_TLS_CERT_ALTNAME_INVALID: permanent('RP_SOURCE_UNREACHABLE'),
};

/** PostgreSQL SQLSTATE (`error.code`). */
export const POSTGRES_CODES: Record<string, Outcome> = {
  '40001': transient('RP_SOURCE_QUERY'), // serialization_failure
  '40P01': transient('RP_SOURCE_QUERY'), // deadlock_detected
  '55P03': transient('RP_SOURCE_TIMEOUT'), // lock_not_available
  '57014': transient('RP_SOURCE_TIMEOUT'), // query_canceled (statement_timeout)
  '57P01': transient('RP_SOURCE_UNREACHABLE'), // admin_shutdown
  '57P02': transient('RP_SOURCE_UNREACHABLE'), // crash_shutdown
  '57P03': transient('RP_SOURCE_UNREACHABLE'), // cannot_connect_now
  '53300': transient('RP_SOURCE_UNREACHABLE'), // too_many_connections
  '08000': transient('RP_SOURCE_UNREACHABLE'),
  '08003': transient('RP_SOURCE_UNREACHABLE'),
  '08006': transient('RP_SOURCE_UNREACHABLE'),
  '08001': transient('RP_SOURCE_UNREACHABLE'),
  '08004': transient('RP_SOURCE_UNREACHABLE'),
  '28P01': permanent('RP_SOURCE_AUTH'), // invalid_password
  '28000': permanent('RP_SOURCE_AUTH'), // invalid_authorization_specification
  '3D000': permanent('RP_SOURCE_AUTH'), // invalid_catalog_name: the database does not exist
  '42501': permanent('RP_SOURCE_PERMISSION'), // insufficient_privilege
  '42P01': permanent('RP_VIEW_MISSING'), // undefined_table
  '3F000': permanent('RP_VIEW_MISSING'), // invalid_schema_name
  '42703': permanent('RP_COLUMN_MISSING'), // undefined_column
};

/** MySQL / MariaDB error numbers (`error.errno`): MariaDB-only numbers have no mysql2 name. */
export const MYSQL_ERRNOS: Record<number, Outcome> = {
  1205: transient('RP_SOURCE_TIMEOUT'), // ER_LOCK_WAIT_TIMEOUT
  1213: transient('RP_SOURCE_QUERY'), // ER_LOCK_DEADLOCK
  1040: transient('RP_SOURCE_UNREACHABLE'), // ER_CON_COUNT_ERROR
  1203: transient('RP_SOURCE_UNREACHABLE'), // ER_TOO_MANY_USER_CONNECTIONS
  1053: transient('RP_SOURCE_UNREACHABLE'), // ER_SERVER_SHUTDOWN
  1927: transient('RP_SOURCE_UNREACHABLE'), // ER_CONNECTION_KILLED (MariaDB)
  1317: transient('RP_SOURCE_QUERY'), // ER_QUERY_INTERRUPTED: a DBA's KILL QUERY; the next read can succeed
  1028: transient('RP_SOURCE_QUERY'), // ER_FILSORT_ABORT: a sort aborted (killed or out of sort memory)
  2002: transient('RP_SOURCE_UNREACHABLE'), // CR_CONNECTION_ERROR
  2003: transient('RP_SOURCE_UNREACHABLE'), // CR_CONN_HOST_ERROR
  2006: transient('RP_SOURCE_UNREACHABLE'), // CR_SERVER_GONE_ERROR
  2013: transient('RP_SOURCE_UNREACHABLE'), // CR_SERVER_LOST
  1969: transient('RP_SOURCE_TIMEOUT'), // ER_STATEMENT_TIMEOUT (MariaDB max_statement_time)
  3024: transient('RP_SOURCE_TIMEOUT'), // ER_QUERY_TIMEOUT (MySQL max_execution_time)
  1045: permanent('RP_SOURCE_AUTH'), // ER_ACCESS_DENIED_ERROR
  1044: permanent('RP_SOURCE_AUTH'), // ER_DBACCESS_DENIED_ERROR
  1049: permanent('RP_SOURCE_AUTH'), // ER_BAD_DB_ERROR
  1142: permanent('RP_SOURCE_PERMISSION'), // ER_TABLEACCESS_DENIED_ERROR
  1143: permanent('RP_SOURCE_PERMISSION'), // ER_COLUMNACCESS_DENIED_ERROR
  1356: permanent('RP_SOURCE_PERMISSION'), // ER_VIEW_INVALID: definer lost rights or a base table went
  1146: permanent('RP_VIEW_MISSING'), // ER_NO_SUCH_TABLE
  1054: permanent('RP_COLUMN_MISSING'), // ER_BAD_FIELD_ERROR
};

/** SQL Server: tedious connection codes (`error.code`) and server error numbers (`error.number`). */
export const MSSQL_CODES: Record<string, Outcome> = {
  ELOGIN: permanent('RP_SOURCE_AUTH'),
  ESOCKET: transient('RP_SOURCE_UNREACHABLE'),
  ETIMEOUT: transient('RP_SOURCE_TIMEOUT'),
  ECONNCLOSED: transient('RP_SOURCE_UNREACHABLE'),
  ECLOSE: transient('RP_SOURCE_UNREACHABLE'),
};
export const MSSQL_NUMBERS: Record<number, Outcome> = {
  1205: transient('RP_SOURCE_QUERY'), // deadlock victim
  1222: transient('RP_SOURCE_TIMEOUT'), // lock request time out (LOCK_TIMEOUT)
  40613: transient('RP_SOURCE_UNREACHABLE'), // Azure: database not currently available
  40501: transient('RP_SOURCE_UNREACHABLE'), // Azure: service busy
  18456: permanent('RP_SOURCE_AUTH'), // login failed
  4060: permanent('RP_SOURCE_AUTH'), // cannot open database
  229: permanent('RP_SOURCE_PERMISSION'), // permission denied on object
  230: permanent('RP_SOURCE_PERMISSION'), // permission denied on column
  208: permanent('RP_VIEW_MISSING'), // invalid object name
  207: permanent('RP_COLUMN_MISSING'), // invalid column name
};

// Errors a driver raised as its connection went, marked where that is known (the pg client).
const lostConnections = new WeakSet<object>();

/** Marks a driver error as the loss of its connection: retried, never parked for. */
export function markConnectionLost(error: object): void {
  lostConnections.add(error);
}

interface DriverError {
  code?: unknown;
  errno?: unknown;
  number?: unknown;
  message?: unknown;
  stack?: unknown;
  errors?: unknown;
}

function outcomeOf(dialect: Dialect, error: DriverError): Outcome | undefined {
  const code = typeof error.code === 'string' ? error.code : undefined;
  if (error instanceof knex.KnexTimeoutError) return transient('RP_SOURCE_TIMEOUT'); // pool acquire timed out
  const byDialect =
    dialect === 'postgres'
      ? code && POSTGRES_CODES[code]
      : dialect === 'mysql'
        ? typeof error.errno === 'number' && MYSQL_ERRNOS[error.errno]
        : (typeof error.number === 'number' && MSSQL_NUMBERS[error.number]) || (code && MSSQL_CODES[code]);
  if (byDialect) return byDialect;
  if (code && NETWORK_CODES[code]) return NETWORK_CODES[code];
  // Node's net module wraps a refused dual-stack connect in an AggregateError of socket errors.
  if (Array.isArray(error.errors)) {
    for (const inner of error.errors) {
      const found = outcomeOf(dialect, inner as DriverError);
      if (found) return found;
    }
  }
  return undefined;
}

/** Replaces every occurrence of the secret; short secrets too, since a leak of any length is a leak. */
function scrub(text: string, secret: string): string {
  return secret ? text.split(secret).join('***') : text;
}

/** Context that makes a message actionable. */
export interface ErrorContext {
  /** `dialect://user@host:port/database`. */
  source: string;
  /** Resolved password, removed from every message. */
  secret: string;
  view?: string;
  /** The connection's TLS mode, for the hint a refused plaintext login gets. */
  tls?: TlsSettings['mode'];
  /** The session's connection is gone (the pool would discard it): an unclassified error is its loss. */
  connectionLost?: boolean;
}

/** Characters of a driver's message kept in an error: its start holds the code and the gist. */
const SOURCE_TEXT_LIMIT = 300;

// MariaDB answers a plaintext login to a server that requires TLS with a plain "Access denied".
const PLAINTEXT_REFUSED_HINT = ' (ssl.mode is disable: a server that requires TLS refuses a plaintext login this way)';

/**
 * A PullerError for a driver error: Transient or Permanent by the tables above, with the
 * password scrubbed from the message and from the kept cause.
 */
export function toSourceError(dialect: Dialect, error: unknown, context: ErrorContext): PullerError {
  if (error instanceof PullerError) return error;
  const driverError = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as DriverError;
  if (typeof driverError.message === 'string') driverError.message = scrub(driverError.message, context.secret);
  if (typeof driverError.stack === 'string') driverError.stack = scrub(driverError.stack, context.secret);
  const lost = context.connectionLost || lostConnections.has(driverError);
  const outcome = outcomeOf(dialect, driverError) ?? (lost ? transient('RP_SOURCE_UNREACHABLE') : permanent('RP_SOURCE_QUERY'));
  const subject = outcome.code === 'RP_VIEW_MISSING' && context.view ? `view ${context.view} on ${context.source}` : context.source;
  // The partner's text is kept short and plain: a hostile server can send megabytes, or escapes.
  const detail = remoteText(typeof driverError.message === 'string' && driverError.message ? driverError.message : String(driverError.code ?? 'unknown error'),
    { secrets: [context.secret], limit: SOURCE_TEXT_LIMIT });
  const hint = outcome.code === 'RP_SOURCE_AUTH' && dialect === 'mysql' && context.tls === 'disable' ? PLAINTEXT_REFUSED_HINT : '';
  const message = `${subject}: ${detail}${hint}`;
  return outcome.transient
    ? new TransientError(outcome.code, message, { cause: error })
    : new PermanentError(outcome.code, message, { cause: error });
}
