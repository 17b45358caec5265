/**
 * Client of Reach's resources batch API. It splits records into requests of at most 1000,
 * sends them with bounded concurrency per tenant and overall, and retries 429, 408, 5xx,
 * timeouts and connection errors with exponential backoff and full jitter, all within one
 * total deadline. The token travels in the Authorization header only: it is redacted from
 * anything Reach echoes and never put in an error or a log line.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { ConfigError, PermanentError, TransientError } from '../../errors.ts';
import type { ConfigProblem } from '../../errors.ts';
import { ConcurrencyLimiter } from './concurrency-limiter.ts';
import { ReachRejectedError } from './reach-rejected-error.ts';
import { remoteText } from '../../remote-text.ts';
import type { AcceptedBatch, ApiEnvelope, BatchInfo, BatchList } from './reach-api-types.ts';

/**
 * Bytes of an answer read at most: whoever answers at Reach's address decides how much it
 * sends, so the body is read up to a cap and the rest is cancelled unread. A success answer
 * larger than its cap is malformed; of an error body only the start is ever kept.
 */
export const ANSWER_BYTE_LIMITS = {
  /** A batch accepted, a batch's status (1000 records' error details fit many times over). */
  success: 1024 * 1024,
  /** A page of `GET /api/batches`: 100 batches, each with its error details. */
  list: 16 * 1024 * 1024,
  error: 8 * 1024,
};

// What a batch id looks like: Reach's are UUIDs; anything long or strange is not an id.
const BATCH_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** Whether Reach's `id` is one the puller can store, send back in a URL and show. */
export function isBatchId(id: unknown): id is string {
  return typeof id === 'string' && BATCH_ID.test(id);
}

/** Reach accepts at most this many resources per request. */
export const MAX_BATCH_SIZE = 1000;

export interface RetryOptions {
  /** Backoff ceiling of the first retry (default 200 ms); it doubles per attempt. */
  baseMs?: number;
  /** Largest backoff ceiling (default 30 s). */
  maxMs?: number;
  /** Total time one call may take, retries included (default 10 min). */
  deadlineMs?: number;
}

/** Where requests go; a connector may override the client's. */
export interface ReachTarget {
  apiUrl: string;
  token: string;
}

export interface ReachApiClientOptions extends ReachTarget {
  /** Resources per request, 1..1000 (default 1000). */
  maxBatchSize?: number;
  /** Requests in flight per tenant (default 4). */
  tenantConcurrency?: number;
  /** Requests in flight overall (default 16). */
  concurrency?: number;
  retry?: RetryOptions;
  /** Time one attempt may take (default 30 s). */
  requestTimeoutMs?: number;
  fetch?: typeof fetch;
  /** Receives a warning per retry. */
  logger?: Logger;
}

/** Batch ids of the accepted requests. */
export interface BatchReceipt {
  batchIds: string[];
  /**
   * Some attempt's fate is unknown (it timed out or its connection broke after it was sent):
   * Reach may hold a batch of it that no id names.
   */
  ambiguous: boolean;
}

/** Options of one upsert or delete. */
export interface SendOptions {
  /** Called right before every attempt leaves (retries included, after any wait for a place); throwing stops the send. */
  beforeAttempt?: () => void;
}

// What a failed send had achieved before it failed: the caller must follow those batches too.
const acceptedBeforeFailure = new WeakMap<object, BatchReceipt>();

/** The batches Reach accepted before a send failed with `error`, and whether more may exist. */
export function acceptedBefore(error: unknown): BatchReceipt {
  return (typeof error === 'object' && error !== null && acceptedBeforeFailure.get(error)) || { batchIds: [], ambiguous: false };
}

// Connection failures that happen before a request leaves: Reach cannot have received it.
const NOT_SENT_ERROR_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EAI_AGAIN', 'ENOTFOUND']);
// Gateway answers that say nothing of whether Reach behind them took the request.
const AMBIGUOUS_STATUSES = new Set([502, 504]);

// Connection failures worth a retry; undici's own codes (UND_ERR_*) are matched by prefix.
const RETRYABLE_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

interface Call {
  method: 'POST' | 'PATCH' | 'DELETE' | 'GET';
  path: string;
  tenant?: string;
  /** JSON text. */
  body?: string;
  /** Bytes of a success answer read at most (default ANSWER_BYTE_LIMITS.success). */
  answerLimit?: number;
}

/** `cutShort`: the attempt ended because the call's deadline came, not because Reach or the network failed. */
type Attempt<T> = { ok: true; data: T } | { ok: false; reason: string; retryAfterMs: number; cutShort?: boolean };

/** Sends record batches to Reach; one instance can serve many tenants. */
export class ReachApiClient {
  readonly #options: ReachApiClientOptions;
  readonly #maxBatchSize: number;
  readonly #retry: Required<RetryOptions>;
  readonly #requestTimeoutMs: number;
  readonly #fetch: typeof fetch;
  readonly #limiter: ConcurrencyLimiter;

  /** `limiter` is shared by the clients `withTarget` derives, so the limits hold across targets. */
  constructor(options: ReachApiClientOptions, limiter?: ConcurrencyLimiter) {
    this.#options = options;
    this.#maxBatchSize = options.maxBatchSize ?? MAX_BATCH_SIZE;
    this.#retry = {
      baseMs: options.retry?.baseMs ?? 200,
      maxMs: options.retry?.maxMs ?? 30_000,
      deadlineMs: options.retry?.deadlineMs ?? 600_000,
    };
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    const tenantConcurrency = options.tenantConcurrency ?? 4;
    const concurrency = options.concurrency ?? 16;
    const problems: ConfigProblem[] = [];
    const check = (path: string, value: number, min: number, max?: number): void => {
      if (!Number.isInteger(value) || value < min || (max !== undefined && value > max)) {
        const range = max === undefined ? `of at least ${min}` : `from ${min} to ${max}`;
        problems.push({ path, message: `must be an integer ${range}` });
      }
    };
    check('maxBatchSize', this.#maxBatchSize, 1, MAX_BATCH_SIZE);
    check('tenantConcurrency', tenantConcurrency, 1);
    check('concurrency', concurrency, 1);
    check('retry.baseMs', this.#retry.baseMs, 0);
    check('retry.maxMs', this.#retry.maxMs, 0);
    check('retry.deadlineMs', this.#retry.deadlineMs, 1);
    check('requestTimeoutMs', this.#requestTimeoutMs, 1);
    if (problems.length > 0) throw new ConfigError(problems);
    this.#fetch = options.fetch ?? fetch;
    this.#limiter = limiter ?? new ConcurrencyLimiter(tenantConcurrency, concurrency);
  }

  /** The API this client talks to, without a trailing slash. */
  get apiUrl(): string {
    return this.#options.apiUrl.replace(/\/+$/, '');
  }

  /** A client for another Reach target that shares this one's settings and limits. */
  withTarget(target: ReachTarget): ReachApiClient {
    return new ReachApiClient({ ...this.#options, ...target }, this.#limiter);
  }

  /**
   * Upserts records, given as their JSON texts (sent as they are, not serialized again), in
   * input order, in requests of at most `maxBatchSize`. Requests run concurrently, so each
   * external id must appear once (the sink keeps the latest).
   */
  upsert(tenant: string, schema: string, recordsJson: readonly string[], options: SendOptions = {}): Promise<BatchReceipt> {
    return this.#sendAll(
      chunk(recordsJson, this.#maxBatchSize).map((resources) => ({
        method: 'POST',
        path: resourcesPath(schema),
        tenant,
        body: `{"resources":[${resources.join(',')}]}`,
      })),
      options,
    );
  }

  /** Deletes resources by external id, in requests of at most `maxBatchSize`. */
  delete(tenant: string, schema: string, externalIds: readonly string[], options: SendOptions = {}): Promise<BatchReceipt> {
    return this.#sendAll(
      chunk([...new Set(externalIds)], this.#maxBatchSize).map((ids) => ({
        method: 'DELETE',
        path: resourcesPath(schema),
        tenant,
        body: JSON.stringify({ externalIds: ids }),
      })),
      options,
    );
  }

  /** Reads a batch's status and progress, retried like any request until `signal` aborts. */
  batchStatus(batchId: string, signal?: AbortSignal): Promise<BatchInfo> {
    const call: Call = { method: 'GET', path: `/api/batches/${encodeURIComponent(batchId)}` };
    return this.#call<BatchInfo>(call, Date.now() + this.#retry.deadlineMs, signal);
  }

  /** One page of a tenant's batches (`GET /api/batches`), oldest first where Reach keeps that order. */
  listBatches(tenant: string, cursor?: string, signal?: AbortSignal): Promise<BatchList> {
    const query = new URLSearchParams({ limit: '100', ...(cursor ? { cursor } : {}) });
    const call: Call = { method: 'GET', path: `/api/batches?${query}`, tenant, answerLimit: ANSWER_BYTE_LIMITS.list };
    return this.#call<BatchList>(call, Date.now() + this.#retry.deadlineMs, signal);
  }

  /**
   * Sends every call; the first failure stops the others and is thrown once all settled,
   * with what was accepted before it (`acceptedBefore`).
   */
  async #sendAll(calls: Call[], options: SendOptions): Promise<BatchReceipt> {
    const deadline = Date.now() + this.#retry.deadlineMs;
    const stop = new AbortController();
    let failure: { error: unknown } | undefined;
    const receipt: BatchReceipt = { batchIds: [], ambiguous: false };
    await Promise.allSettled(
      calls.map(async (call) => {
        try {
          const accepted = await this.#call<AcceptedBatch>(call, deadline, stop.signal, options.beforeAttempt, () => (receipt.ambiguous = true));
          if (!isBatchId(accepted.batchId)) {
            // Accepted, but not followable: Reach may hold a batch of it that no id names.
            receipt.ambiguous = true;
            const what = typeof accepted.batchId === 'string' ? `a malformed batchId (${this.redact(accepted.batchId, 40)})` : 'no batchId';
            throw new PermanentError('RP_SINK_REJECTED', `Reach accepted ${describe(call)} with ${what}: a malformed answer`);
          }
          receipt.batchIds.push(accepted.batchId);
        } catch (error) {
          if (!failure) {
            failure = { error };
            stop.abort();
          }
          throw error;
        }
      }),
    );
    if (failure) {
      if (typeof failure.error === 'object' && failure.error !== null) acceptedBeforeFailure.set(failure.error, receipt);
      throw failure.error;
    }
    return receipt;
  }

  /** One call with retries; `onAmbiguous` hears of every attempt Reach may have taken without answering. */
  async #call<T>(call: Call, deadline: number, signal?: AbortSignal, beforeAttempt?: () => void, onAmbiguous = () => {}): Promise<T> {
    let failedBefore = '';
    for (let attempt = 1; ; attempt++) {
      // Checked once the request has its place, right before it leaves: a wait in the limiter
      // must not carry a request past the moment the caller may no longer send.
      const outcome = await this.#limiter.run(call.tenant ?? '', () => {
        beforeAttempt?.();
        return this.#attempt<T>(call, deadline, signal, onAmbiguous);
      });
      if (outcome.ok) return outcome.data;
      // Full jitter spreads retries of many clients; Retry-After is a floor, never shortened.
      const ceiling = Math.min(this.#retry.maxMs, this.#retry.baseMs * 2 ** (attempt - 1));
      const delayMs = Math.max(outcome.retryAfterMs, Math.random() * ceiling);
      if (Date.now() + delayMs >= deadline) {
        // An attempt the deadline cut short says nothing about Reach; the failure before it does.
        const last = outcome.cutShort && failedBefore ? `${failedBefore}, then the deadline came mid-attempt` : outcome.reason;
        throw new TransientError(
          'RP_SINK_UNAVAILABLE',
          `Reach did not accept ${describe(call)} within the ${this.#retry.deadlineMs} ms delivery deadline ` +
            `(${attempt} attempts; last: ${last})`,
        );
      }
      if (!outcome.cutShort) failedBefore = outcome.reason;
      this.#options.logger?.warn(
        { method: call.method, path: call.path, tenant: call.tenant, attempt, delayMs: Math.round(delayMs), reason: outcome.reason },
        'Reach request not accepted; retrying',
      );
      await sleep(delayMs, undefined, { signal });
    }
  }

  /** One request: data, a retryable outcome, or a thrown permanent error; `onAmbiguous` when Reach may have taken it unanswered. */
  async #attempt<T>(call: Call, deadline: number, signal: AbortSignal | undefined, onAmbiguous: () => void): Promise<Attempt<T>> {
    const timeoutMs = Math.max(1, Math.min(this.#requestTimeoutMs, deadline - Date.now()));
    const timeout = AbortSignal.timeout(timeoutMs);
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.#options.token}`,
      accept: 'application/json',
    };
    if (call.tenant !== undefined) headers['x-tenant-id'] = call.tenant;
    if (call.body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    let answer: Answer;
    try {
      response = await this.#fetch(`${this.apiUrl}${call.path}`, {
        method: call.method,
        headers,
        body: call.body,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        // A redirect could carry the request, and its token, somewhere the egress check never saw.
        redirect: 'manual',
      });
      const ok = response.status >= 200 && response.status < 300;
      answer = await readAnswer(response, ok ? (call.answerLimit ?? ANSWER_BYTE_LIMITS.success) : ANSWER_BYTE_LIMITS.error);
    } catch (error) {
      const code = errorCode(error);
      if (!code || !NOT_SENT_ERROR_CODES.has(code)) onAmbiguous();
      if (signal?.aborted) throw error;
      if (timeout.aborted) {
        return { ok: false, reason: `no answer within ${timeoutMs} ms`, retryAfterMs: 0, cutShort: timeoutMs < this.#requestTimeoutMs };
      }
      if (code && (RETRYABLE_ERROR_CODES.has(code) || code.startsWith('UND_ERR_'))) {
        return { ok: false, reason: `connection error ${code}`, retryAfterMs: 0 };
      }
      const reason = this.redact(error instanceof Error ? error.message : String(error));
      throw new PermanentError('RP_SINK_REJECTED', `${describe(call)} could not be sent to Reach: ${reason}`, {
        cause: error,
      });
    }
    const status = response.status;
    const { text, cut } = answer;
    if (status >= 200 && status < 300 && cut) {
      onAmbiguous(); // a write it answered so may have been taken, under an id never read
      throw new PermanentError('RP_SINK_REJECTED',
        `Reach answered ${status} to ${describe(call)} with more than ${call.answerLimit ?? ANSWER_BYTE_LIMITS.success} bytes: ` +
          'a malformed answer, left unread beyond that');
    }
    // A cut error body is not JSON any more; its start is kept as text.
    const envelope = cut ? undefined : (parseJson(text) as ApiEnvelope<T> | undefined);
    if (status >= 200 && status < 300) {
      if (envelope?.data === undefined) {
        throw new PermanentError('RP_SINK_REJECTED', `Reach answered ${status} to ${describe(call)} without data`);
      }
      return { ok: true, data: envelope.data };
    }
    const apiMessage = this.redact(typeof envelope?.message === 'string' ? envelope.message : text || response.statusText);
    if (status === 408 || status === 429 || status >= 500) {
      if (AMBIGUOUS_STATUSES.has(status)) onAmbiguous();
      return { ok: false, reason: `${status} ${apiMessage}`, retryAfterMs: retryAfterMs(response.headers.get('retry-after')) };
    }
    throw new ReachRejectedError(status, apiMessage, `Reach rejected ${describe(call)} with ${status}: ${apiMessage}`);
  }

  /**
   * Text Reach or the network stack produced, made fit to keep and show: no token, no other
   * secret, no control characters, at most `limit` characters (an answer is evidence, not
   * content). Everything of Reach's that is stored or shown goes through here.
   */
  redact(text: string, limit?: number): string {
    return remoteText(text, { secrets: [this.#options.token], limit });
  }
}

/** An answer's body as text, read up to `limit` bytes; `cut` when there was more (left unread). */
interface Answer {
  text: string;
  cut: boolean;
}

/** Reads a body in the chunks the stream yields, cancelling it past `limit` bytes. */
async function readAnswer(response: Response, limit: number): Promise<Answer> {
  if (!response.body) return { text: '', cut: false };
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { text: Buffer.concat(chunks, size).toString('utf8'), cut: false };
      if (size + value.byteLength > limit) {
        chunks.push(value.subarray(0, limit - size));
        // Cancelling closes the connection: the rest never arrives.
        await reader.cancel().catch(() => undefined);
        return { text: Buffer.concat(chunks, limit).toString('utf8'), cut: true };
      }
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    reader.releaseLock();
  }
}

function resourcesPath(schema: string): string {
  return `/api/resources/${encodeURIComponent(schema)}/batch`;
}

function describe(call: Call): string {
  return `${call.method} ${call.path}${call.tenant === undefined ? '' : ` for tenant ${call.tenant}`}`;
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Retry-After as delta-seconds or an HTTP-date, in ms (0 when absent or unreadable). */
function retryAfterMs(header: string | null): number {
  if (!header) return 0;
  if (/^\d+$/.test(header.trim())) return Number(header) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? 0 : Math.max(0, at - Date.now());
}

/** The system error code of a fetch failure (undici puts it on `cause`). */
function errorCode(error: unknown): string | undefined {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}
