/**
 * Run timings short enough that a killed process's unconfirmed sends are settled within a
 * test: set in this process (`RUN_TIMING`), and as the environment of a CLI child, so both
 * agree on when a dead run's sends may be settled by another.
 */
import { RUN_TIMING } from '../../src/store/run-records.ts';

const TIMING = { heartbeatMs: 200, sendDeadlineMs: 1_000, requestGraceMs: 500 };

/** Applies the short timings here; returns the environment that gives a child process the same. */
export function shortSendDeadlines(): Record<string, string> {
  Object.assign(RUN_TIMING, TIMING);
  return {
    REACH_PULLER_HEARTBEAT_MS: String(TIMING.heartbeatMs),
    REACH_PULLER_SEND_DEADLINE_MS: String(TIMING.sendDeadlineMs),
    REACH_PULLER_REQUEST_GRACE_MS: String(TIMING.requestGraceMs),
  };
}
