/**
 * One status row per stream, read from the state store: state, last run, lag, next run, last
 * error, rows the last pull could not read. `status`, the ops API, `/metrics` and lag alerting
 * all read it from here.
 *
 * Lag is how far behind the partner the delivered data may be: now minus the newest point
 * up to which everything is known delivered. That point is the later of the watermark's
 * cursor (instant and local cursors) and the start of the last successful pull minus its
 * settle window (that pull read every row up to its settle ceiling). The partner clock is not
 * asked: lag uses this process's clock, so a quiet view does not look as if it fell behind.
 */
import { sql, type Kysely } from 'kysely';
import cron from 'node-cron';
import type { ConnectorConfig } from '../config/connector-schema.ts';
import { streamTimeZone } from '../config/stream-time-zone.ts';
import type { Position } from '../interfaces.ts';
import { localToUtc } from '../engine/watermark.ts';
import type { StoreSchema } from '../store/schema.ts';
import { listBackfills, type BackfillProgress } from '../backfill/backfill-progress.ts';
import type { RunEntry } from './run-history.ts';

export type StreamState = 'ok' | 'running' | 'backfilling' | 'failing' | 'parked' | 'disabled';

/** The part of a run's history entry that status shows. */
export type LastRun = Pick<RunEntry, 'id' | 'kind' | 'status' | 'startedAt' | 'endedAt' | 'read' | 'sent' | 'unchanged' | 'rejected'>;

export interface StreamStatus {
  tenant: string;
  connector: string;
  stream: string;
  state: StreamState;
  lastRun: LastRun | null;
  watermark: Position | null;
  lagSeconds: number | null;
  lagObjectiveSeconds: number | null;
  lagBreached: boolean;
  nextRun: string | null;
  lastError: string | null;
  parkedReason: string | null;
  /**
   * Rows the last finished pull counted and could not read (no position, or a cursor ahead of
   * the partner clock); null before the first. Other run kinds do not count them, so they are
   * taken from the last pull, not from `lastRun`.
   */
  unread: UnreadRows | null;
  /** The running backfill of the stream, if any: how far, how fast, how long to go. */
  backfill: { id: string; percent: number; rowsDone: number; rowsPerSecond: number; etaSeconds?: number } | null;
}

/** What one pull counted and could not read. */
export interface UnreadRows {
  runId: string;
  nullCursor: number;
  nullKey: number;
  futureCursor: number;
}

/** The parts of a connector's config a status needs (the whole one is kilobytes, times thousands of streams). */
type StatusConfig = Pick<ConnectorConfig, 'schedule' | 'schedule_timezone' | 'lag_objective_seconds'> & {
  source: Pick<ConnectorConfig['source'], 'settle_seconds' | 'timezone'>;
  stream: Pick<ConnectorConfig['streams'][number], 'settle_seconds' | 'timezone'> | null;
};

interface Row {
  connector: string;
  tenant: string;
  enabled: boolean;
  config: StatusConfig;
  stream: string;
  parked_reason: string | null;
  watermark_cursor: string | null;
  watermark_key: string[] | null;
  run_id: string | null;
  run_kind: string | null;
  run_status: string | null;
  run_started: Date | null;
  run_ended: Date | null;
  rows_read: string | null;
  rows_sent: string | null;
  rows_unchanged: string | null;
  rows_rejected: string | null;
  error_code: string | null;
  error: string | null;
  ok_started: Date | null;
  pull_id: string | null;
  pull_null_cursor: string | null;
  pull_null_key: string | null;
  pull_future_cursor: string | null;
  backfilling: boolean;
}

/** Status of every stream (or one connector's), ordered by tenant, connector, stream. */
export async function streamStatuses(db: Kysely<StoreSchema>, options: { connector?: string; now?: Date } = {}): Promise<StreamStatus[]> {
  const now = options.now ?? new Date();
  const filter = options.connector === undefined ? sql`true` : sql`c.id = ${options.connector}`;
  // The last pull (backfill chunks run beside pulls and have their own progress). JIT off: it
  // compiled this short query for longer than the query ran (about half of it at 2,000 streams).
  const rows = await db.transaction().execute(async (trx) => {
    await sql`set local jit = off`.execute(trx);
    return sql<Row>`
    select c.id as connector, c.tenant_id as tenant, c.enabled, s.name as stream, s.parked_reason,
      jsonb_build_object('schedule', c.config->'schedule', 'schedule_timezone', c.config->'schedule_timezone',
        'lag_objective_seconds', c.config->'lag_objective_seconds',
        'source', jsonb_build_object('settle_seconds', c.config->'source'->'settle_seconds', 'timezone', c.config->'source'->'timezone'),
        'stream', (select jsonb_build_object('settle_seconds', x->'settle_seconds', 'timezone', x->'timezone')
                   from jsonb_array_elements(c.config->'streams') x where x->>'name' = s.name limit 1)) as config,
      st.watermark_cursor, st.watermark_key,
      r.id as run_id, r.kind as run_kind, r.status as run_status, r.started_at as run_started, r.ended_at as run_ended,
      r.rows_read, r.rows_sent, r.rows_unchanged, r.rows_rejected, r.error_code, r.error,
      ok.started_at as ok_started,
      p.id as pull_id, p.rows_null_cursor as pull_null_cursor, p.rows_null_key as pull_null_key, p.rows_future_cursor as pull_future_cursor,
      exists (select 1 from runs b where b.connector_id = s.connector_id and b.stream = s.name
              and b.kind = 'backfill' and b.status = 'running') as backfilling
    from connectors c
    join streams s on s.connector_id = c.id
    left join stream_state st on st.connector_id = s.connector_id and st.stream = s.name
    left join lateral (select * from runs x where x.connector_id = s.connector_id and x.stream = s.name
                       and x.kind not in ('backfill', 'verify') order by x.id desc limit 1) r on true
    left join lateral (select x.started_at from runs x where x.connector_id = s.connector_id and x.stream = s.name
                       and x.kind not in ('backfill', 'verify') and x.status = 'succeeded' order by x.id desc limit 1) ok on true
    left join lateral (select x.id, x.rows_null_cursor, x.rows_null_key, x.rows_future_cursor from runs x
                       where x.connector_id = s.connector_id and x.stream = s.name
                       and x.kind = 'pull' and x.status <> 'running' order by x.id desc limit 1) p on true
    where ${filter}
    order by c.tenant_id, c.id, s.name`.execute(trx);
  });
  // Only backfills marked running (a handful, whatever the history): the newest live one per stream.
  const backfills = new Map<string, BackfillProgress>();
  for (const b of await listBackfills(db, { status: 'running' })) {
    const key = `${b.connector}/${b.stream}`;
    if (b.state === 'running' && !backfills.has(key)) backfills.set(key, b);
  }
  // Working out a cron expression's next time is the dearest part of a row (node-cron builds a
  // task): once per schedule and zone, as fleets share a few schedules.
  const nextRuns = new Map<string, string | null>();
  const nextRun = (expression: string, timeZone: string) => {
    const key = `${expression}\n${timeZone}`;
    if (!nextRuns.has(key)) nextRuns.set(key, nextCronRun(expression, timeZone)?.toISOString() ?? null);
    return nextRuns.get(key)!;
  };
  return rows.rows.map((r) => toStatus(r, now, backfills.get(`${r.connector}/${r.stream}`), nextRun));
}

function toStatus(r: Row, now: Date, backfill: BackfillProgress | undefined, nextRun: (expression: string, timeZone: string) => string | null): StreamStatus {
  const config = r.config;
  const stream = config.stream ?? {};
  const settle = stream.settle_seconds ?? config.source.settle_seconds;
  const lag = lagSeconds({
    watermarkCursor: r.watermark_cursor ?? undefined, lastSuccessStart: r.ok_started ?? undefined,
    settleSeconds: settle, timeZone: streamTimeZone(config, stream), now,
  });
  const objective = config.lag_objective_seconds ?? null;
  const state: StreamState = !r.enabled ? 'disabled'
    : r.parked_reason ? 'parked'
      : r.run_status === 'running' ? 'running'
        // A failing stream says so while a backfill runs beside it (its progress is in `backfill`).
        : r.run_status === 'failed' ? 'failing'
          // A live backfill is shown between its chunks' runs too (planning, a throttle's pause).
          : r.backfilling || backfill ? 'backfilling' : 'ok';
  return {
    tenant: r.tenant, connector: r.connector, stream: r.stream, state,
    lastRun: r.run_id === null ? null : {
      id: r.run_id, kind: r.run_kind!, status: r.run_status!,
      startedAt: new Date(r.run_started!).toISOString(), endedAt: r.run_ended ? new Date(r.run_ended).toISOString() : null,
      read: Number(r.rows_read), sent: Number(r.rows_sent), unchanged: Number(r.rows_unchanged), rejected: Number(r.rows_rejected),
    },
    watermark: r.watermark_cursor === null ? null : { cursor: r.watermark_cursor, key: r.watermark_key ?? [] },
    lagSeconds: lag,
    lagObjectiveSeconds: objective,
    lagBreached: objective !== null && lag !== null && lag > objective,
    nextRun: r.enabled && !r.parked_reason && config.schedule ? nextRun(config.schedule, config.schedule_timezone) : null,
    lastError: r.parked_reason ?? (r.run_status === 'failed' ? `${r.error_code ?? ''} ${r.error ?? ''}`.trim() : null),
    parkedReason: r.parked_reason,
    unread: r.pull_id === null ? null : {
      runId: r.pull_id, nullCursor: Number(r.pull_null_cursor), nullKey: Number(r.pull_null_key), futureCursor: Number(r.pull_future_cursor),
    },
    backfill: backfill ? {
      id: backfill.id, percent: backfill.percent, rowsDone: backfill.rowsDone, rowsPerSecond: backfill.rowsPerSecond, etaSeconds: backfill.etaSeconds,
    } : null,
  };
}

/** Lag in whole seconds as defined above; null before the first confirmed data. */
export function lagSeconds(input: { watermarkCursor?: string; lastSuccessStart?: Date; settleSeconds: number; timeZone: string; now: Date }): number | null {
  const points: number[] = [];
  const at = input.watermarkCursor === undefined ? undefined : cursorInstant(input.watermarkCursor, input.timeZone);
  if (at !== undefined) points.push(at);
  if (input.lastSuccessStart) points.push(new Date(input.lastSuccessStart).getTime() - input.settleSeconds * 1000);
  if (points.length === 0) return null;
  return Math.max(0, Math.round((input.now.getTime() - Math.max(...points)) / 1000));
}

/** Milliseconds since the epoch of an instant or local cursor; undefined for integer cursors. */
function cursorInstant(cursor: string, timeZone: string): number | undefined {
  if (/^\d{4}-\d\d-\d\dT.*Z$/.test(cursor)) return Date.parse(cursor.replace(/(\.\d{3})\d+Z$/, '$1Z'));
  if (/^\d{4}-\d\d-\d\d( \d\d:\d\d:\d\d(\.\d+)?)?$/.test(cursor)) {
    const full = cursor.length === 10 ? `${cursor} 00:00:00` : cursor;
    return Date.parse(localToUtc(full, timeZone).replace(/(\.\d{3})\d+Z$/, '$1Z'));
  }
  return undefined;
}

/** The next time a cron expression fires from now, in its time zone. */
export function nextCronRun(expression: string, timeZone: string): Date | undefined {
  try {
    const task = cron.createTask(expression, () => undefined, { timezone: timeZone });
    const [next] = task.getNextRuns(1);
    void task.destroy();
    return next;
  } catch {
    return undefined;
  }
}
