/**
 * One base error with a stable `code`, subclassed by how it is handled:
 * - ConfigError: the operator's input is wrong; exit code 2; every problem listed.
 * - PermanentError: retrying cannot help (auth failed, view or column missing); parks a stream.
 * - TransientError: retry with backoff (connection reset, timeout, deadlock, 429/5xx).
 * - RecordError: one record is bad; it is quarantined and the run continues.
 */

/** Every error code the puller raises, with the advice printed beside it. */
export const ERROR_CODES = {
  RP_CONFIG_INVALID: 'Fix the listed problems and run the command again.',
  RP_CONFIG_SECRET_PLAINTEXT: 'Replace the value with a reference: ${env:NAME}, ${file:PATH} or ${secret:NAME}.',
  RP_SECRET_UNRESOLVED: 'Set the environment variable, create the file or store the secret it names.',
  RP_SECRET_FORBIDDEN: 'Connectors reach only granted secrets: list the variable in REACH_PULLER_CONNECTOR_ENV, put the file in REACH_PULLER_SECRET_DIR, or store the secret as <tenant>/NAME (or list it in REACH_PULLER_SHARED_SECRETS), bound to where it goes: `reach-puller secret set NAME --for <dialect>://<user>@<host>:<port>` (or --for https://<reach-host> for a Reach token).',
  RP_SECRET_KEY: 'Set REACH_PULLER_MASTER_KEY to base64 of 32 random bytes (openssl rand -base64 32), or keyid:base64 pairs, the current key first.',
  RP_SECRET_CORRUPT: 'The stored secret fails its integrity check: set it again with `reach-puller secret set`.',
  RP_NETWORK_DENIED: 'The source host resolves to a refused address; use the partner\'s host, or allow the range in REACH_PULLER_ALLOW_PRIVATE_NETWORKS.',
  RP_SOURCE_WRITABLE: 'The credential can write: ask the partner for a SELECT-only user (`reach-puller test` lists its privileges).',
  RP_STORE_TOO_NEW: 'Upgrade reach-puller: the state store was migrated by a newer version.',
  RP_STORE_UNREACHABLE: 'Check DATABASE_URL and that the state store database is running.',
  RP_NOT_FOUND: 'Check the id; `reach-puller connectors list` shows what is registered.',
  RP_SOURCE_UNREACHABLE: 'Check the host, port, network path and TLS settings of the source.',
  RP_SOURCE_AUTH: 'Check the user and password the partner gave: the credential was refused, or the server asked for a password method source.password_auth does not allow (the message says which).',
  RP_SOURCE_PERMISSION: 'Ask the partner to grant SELECT on the view to the read-only user.',
  RP_SOURCE_QUERY: 'The partner database rejected a read; see the cause.',
  RP_SOURCE_TIMEOUT: 'The statement timed out; it will be retried. Consider an index on (cursor, key).',
  RP_VIEW_MISSING: 'Ask the partner to restore the view, or fix `view` in the connector file.',
  RP_COLUMN_MISSING: 'Ask the partner to restore the column, or remove it from the mapping. It is never sent as null.',
  RP_CURSOR_UNSUPPORTED: 'Use a timestamp, date, integer or rowversion column as cursor.',
  RP_NULL_CURSOR: 'Rows with a NULL cursor cannot be pulled incrementally; set cursor_fallback or null_cursor: report.',
  RP_CURSOR_CHANGED: 'The stream\'s cursor changed since this backfill was planned; its chunk bounds are values of the old one. Start a new backfill.',
  RP_CURSOR_REGRESSED: 'The view returned rows out of (cursor, key) order; check the view and its collation.',
  RP_RECORD_INVALID: 'See the quarantine (`reach-puller rejects`) for the field and the reason.',
  RP_REJECT_RATE: 'Too many records were rejected in this run; fix the mapping or the data, then retry-rejects.',
  RP_MASS_DELETE: 'Reconcile would delete more than the allowed share; check the view and its filter, then pass --allow-mass-delete if it is right.',
  RP_SINK_REJECTED: 'Reach refused the request; see the API message. The watermark did not move.',
  RP_SINK_CHANGED: 'Run the stream where its delivery target is configured (REACH_API_URL, or the connector\'s reach: block). The same Reach at a new address: `reach-puller reset <connector> --stream <s> --target-moved`. Another target, to get every row: `reset ... --forget-delivered`.',
  RP_SINK_UNAVAILABLE: 'Reach did not accept the batch before the delivery deadline; it will be retried.',
  RP_RUN_ABANDONED: 'The process running it died; the next run continues from the last checkpoint.',
  RP_RUN_CANCELLED: 'The run was cancelled; the watermark stays at the last confirmed page.',
  RP_STREAM_BUSY: 'Another run of this stream is in progress; wait for it or cancel it.',
  RP_BACKFILL_BUSY: 'Another process runs this backfill; wait for it, or `reach-puller backfill --cancel <id>` first.',
  RP_WATERMARK_MOVED: 'A run moved the watermark since the reset was confirmed; look at the new position and confirm the reset again.',
  RP_STORE_LOCKED: 'The embedded store is single-process: wait for the other reach-puller process (or stop it), or set DATABASE_URL to a PostgreSQL store to run several at once.',
  RP_RUN_FENCED: 'Another run took this stream over after this one was taken for dead; nothing of this run was committed after that.',
  RP_SINK_UNCONFIRMED: 'Reach had not processed the batch by the wait deadline; its records stay claimed until it has, and the page will be read again.',
  RP_OPS_TOKEN_MISSING: 'Set REACH_PULLER_OPS_TOKEN to a long random value, or start `serve --no-api`.',
  RP_DEMO_STEP_FAILED: 'A demo step failed: the lines above say which and why; run `npm run demo` again, or report it.',
  RP_DEMO_PORT_BUSY: 'Stop the other `reach-puller demo` (or whatever listens on 127.0.0.1:55432) and run the demo again.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Base of every error the puller raises on purpose. */
export class PullerError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }

  /** What the operator should do about it. */
  get advice(): string {
    return ERROR_CODES[this.code];
  }
}

/** One problem in operator input, located as precisely as possible. */
export interface ConfigProblem {
  file?: string;
  line?: number;
  path: string;
  message: string;
}

/** Formats a problem as `file:line path: message`. */
export function formatProblem(p: ConfigProblem): string {
  const where = p.file ? `${p.file}${p.line ? `:${p.line}` : ''} ` : '';
  return `${where}${p.path ? `${p.path}: ` : ''}${p.message}`;
}

/** Operator input is invalid; lists every problem found. Exit code 2. */
export class ConfigError extends PullerError {
  readonly problems: ConfigProblem[];
  constructor(problems: ConfigProblem[], code: ErrorCode = 'RP_CONFIG_INVALID') {
    super(code, problems.map(formatProblem).join('\n'));
    this.problems = problems;
  }
}

/** Retrying cannot help until an operator acts. */
export class PermanentError extends PullerError {}

/** A retry with backoff may succeed. */
export class TransientError extends PullerError {}

/** One record cannot be delivered; it goes to quarantine. */
export class RecordError extends PullerError {
  readonly fields: string[];
  constructor(fields: string[], message: string, options?: { cause?: unknown }) {
    super('RP_RECORD_INVALID', message, options);
    this.fields = fields;
  }
}

/** True when an error should be retried with backoff. */
export function isTransient(error: unknown): boolean {
  return error instanceof TransientError;
}

/** Why work stopped when its signal aborted: the reason when it is one of ours (a fenced run), else a cancel of `what`. */
export function stopError(reason: unknown, what: string): PullerError {
  return reason instanceof PullerError ? reason : new PullerError('RP_RUN_CANCELLED', `${what} was cancelled`, { cause: reason });
}
