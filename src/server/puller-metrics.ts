/**
 * Prometheus metrics on a Registry of their own (never prom-client's global one): row
 * counters and run durations per stream as this replica ran them, failures by reason code,
 * and per-stream gauges (lag, objective breached, parked, rows the last pull could not read)
 * read from the store at each scrape, so every replica reports the same gauge values.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RunSummary } from '../engine/run-stream.ts';
import { DIFFERENCE_KINDS, type StreamVerification } from '../engine/verify.ts';
import type { StreamStatus } from '../scheduler/stream-status.ts';

const STREAM_LABELS = ['tenant', 'connector', 'stream'] as const;

export class PullerMetrics {
  readonly registry = new Registry();
  private readonly rows = {
    read: this.counter('reach_puller_rows_read_total', 'Rows read from partner views'),
    sent: this.counter('reach_puller_rows_sent_total', 'Records delivered to the sink'),
    unchanged: this.counter('reach_puller_rows_unchanged_total', 'Rows skipped because their content had not changed'),
    rejected: this.counter('reach_puller_rows_rejected_total', 'Records quarantined by mapping or validation'),
  };
  private readonly failures = new Counter({
    name: 'reach_puller_run_failures_total', help: 'Failed runs by error code',
    labelNames: [...STREAM_LABELS, 'code'], registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: 'reach_puller_run_duration_seconds', help: 'Duration of stream runs',
    labelNames: ['connector', 'stream', 'status'], buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
    registers: [this.registry],
  });
  private readonly lag = this.gauge('reach_puller_lag_seconds', 'How far behind the partner the delivered data may be (see docs/operations.md)');
  private readonly breached = this.gauge('reach_puller_lag_objective_breached', '1 when the lag exceeds the connector lag_objective_seconds');
  private readonly parked = this.gauge('reach_puller_stream_parked', '1 when a permanent error parked the stream');
  private readonly backfill = this.gauge('reach_puller_backfill_progress_ratio', 'Share of the running backfill done (0..1)');
  // From the last finished pull in the store, not from this replica's runs: a replica that did
  // not run the stream lately would otherwise keep reporting an old count.
  private readonly unread = {
    futureCursor: this.gauge('reach_puller_rows_future_cursor',
      'Rows the last pull found with a cursor ahead of the partner clock by more than the settle window (a wrong timezone, see docs/incremental-pulls.md)'),
    nullKey: this.gauge('reach_puller_rows_null_key', 'Rows the last pull found with a NULL primary-key column (not pulled)'),
    nullCursor: this.gauge('reach_puller_rows_null_cursor', 'Rows the last pull found with a NULL cursor (not pulled)'),
  };

  // Set by each verify this replica ran (API or schedule), as it found the stream before any repair.
  private readonly verifyDifferences = new Gauge({
    name: 'reach_puller_verify_differences', help: 'Differences the last verify of the stream found, by kind (missing, stale, extra)',
    labelNames: [...STREAM_LABELS, 'kind'], registers: [this.registry],
  });

  /** Records what a verify found. */
  recordVerify(tenant: string, v: StreamVerification): void {
    for (const kind of DIFFERENCE_KINDS) this.verifyDifferences.set({ tenant, connector: v.connector, stream: v.stream, kind }, v[kind].count);
  }

  /** Counts a finished run. */
  recordRun(tenant: string, summary: RunSummary, seconds: number): void {
    const labels = { tenant, connector: summary.connector, stream: summary.stream };
    this.rows.read.inc(labels, summary.rowsRead);
    this.rows.sent.inc(labels, summary.rowsSent);
    this.rows.unchanged.inc(labels, summary.rowsUnchanged);
    this.rows.rejected.inc(labels, summary.rowsRejected);
    this.duration.observe({ connector: summary.connector, stream: summary.stream, status: summary.status }, seconds);
    if (summary.status === 'failed') this.recordFailure(tenant, summary.connector, summary.stream, summary.error);
  }

  /** Counts a failure that happened before or outside a recorded run. */
  recordFailure(tenant: string, connector: string, stream: string, error: unknown): void {
    const code = (error as { code?: unknown } | undefined)?.code;
    this.failures.inc({ tenant, connector, stream, code: typeof code === 'string' && code.startsWith('RP_') ? code : 'RP_UNEXPECTED' });
  }

  /** Replaces the per-stream gauges with the store's current view. */
  setStreamGauges(statuses: StreamStatus[]): void {
    this.lag.reset();
    this.breached.reset();
    this.parked.reset();
    this.backfill.reset();
    for (const gauge of Object.values(this.unread)) gauge.reset();
    for (const s of statuses) {
      const labels = { tenant: s.tenant, connector: s.connector, stream: s.stream };
      if (s.lagSeconds !== null) this.lag.set(labels, s.lagSeconds);
      if (s.lagObjectiveSeconds !== null) this.breached.set(labels, s.lagBreached ? 1 : 0);
      this.parked.set(labels, s.state === 'parked' ? 1 : 0);
      if (s.backfill) this.backfill.set(labels, s.backfill.percent / 100);
      if (s.unread) {
        this.unread.futureCursor.set(labels, s.unread.futureCursor);
        this.unread.nullKey.set(labels, s.unread.nullKey);
        this.unread.nullCursor.set(labels, s.unread.nullCursor);
      }
    }
  }

  private counter(name: string, help: string): Counter<(typeof STREAM_LABELS)[number]> {
    return new Counter({ name, help, labelNames: STREAM_LABELS, registers: [this.registry] });
  }

  private gauge(name: string, help: string): Gauge<(typeof STREAM_LABELS)[number]> {
    return new Gauge({ name, help, labelNames: STREAM_LABELS, registers: [this.registry] });
  }
}
