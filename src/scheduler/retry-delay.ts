/** How long to wait before retrying a transiently failed run. */

export interface RetryPolicy {
  /** Attempts in total, the first included. */
  attempts: number;
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseMs: 2000, maxMs: 5 * 60_000 };

/**
 * Exponential backoff with jitter: after attempt n the wait is between half and all of
 * base * 2^(n-1), capped, so replicas that failed together do not retry together.
 */
export function retryDelayMs(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
