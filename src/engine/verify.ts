/**
 * `verify`: proves that what a stream delivered equals its view mapped today, and names what
 * does not. It reads the view exactly like a backfill chunk (range-delivery.ts `readRange`:
 * keyset pages, each in its own short read-only transaction under the settle ceiling, one
 * source slot, an optional rate cap), maps and validates each row with the pull's own
 * judgement (page-judgement.ts) and compares it with the stream's delivery record:
 * `delivered` (content hash and version per record) and, for the built-in store, the
 * `resources` record itself.
 *
 * Range first. The scan is cut into ranges of cursor values (lo, hi], about a page each, cut
 * only between two cursor values so ties never straddle a cut. Each side of a range gets an
 * order-independent digest (a count and the sum of 60-bit md5 prefixes) over
 * (external id, content hash): the view side from the mapped rows ('deleted' for a soft
 * delete, 'rejected' for a row that does not map), the store side computed by the store
 * from the delivered records whose version falls in the range (reconcile's deletes, whose
 * rows left the view, left out). Only a range whose digests differ is compared row by row,
 * so an in-sync stream costs one scan, one small statement per page, and one page of memory.
 *
 * Kinds: missing (a row never delivered), stale (delivered content differs from the row's
 * mapping today; a soft delete not delivered; a built-in store record that differs), extra
 * (delivered, not deleted, its row no longer in the view); quarantined (open quarantine
 * entries, already reported by `rejects`) and rows still settling or ahead of the partner
 * clock are counted apart, not as differences.
 *
 * Repair sends missing and stale rows again as a keyed re-read (like retry-rejects) in a
 * `repair` run that holds the stream, through the normal delivery path; the extras found go
 * to reconcile (only those: nothing outside --from/--to) with its mass-delete guard.
 */
import { hexDigest } from '../mapping/content-hash.ts';
import { sql } from 'kysely';
import { PullerError } from '../errors.ts';
import type { CursorValue, Position, SourceRow } from '../interfaces.ts';
import type { Logger } from '../log.ts';
import type { Sink, StateStore } from '../sinks/sink.ts';
import type { Source } from '../sources/source.ts';
import { parseBound, predecessor } from '../backfill/chunk-plan.ts';
import { RateLimiter } from '../backfill/rate-limiter.ts';
import type { RegisteredConnector } from '../store/connector-registry.ts';
import { countOpenRejections, forgetDeliveredContent, listRejectionPage, loadDelivered, loadWatermark, storableText, type StreamRef } from '../store/delivery-state.ts';
import { holdsOf } from '../store/holds.ts';
import { abandoned, addPage, recordProgress, startRun, ZERO_COUNTS, type RunCounts } from '../store/run-records.ts';
import { createSink, reachTarget, storeRuntime, type RuntimeEnv } from './connector-runtime.ts';
import { deliverJudged } from './page-delivery.ts';
import { judgeRow, type RowVerdict } from './page-judgement.ts';
import { InOrder } from './in-order.ts';
import { readByKeys } from './keyed-reads.ts';
import { withPlannedStream } from './planned-stream.ts';
import { readRange, rowsAbove } from './range-delivery.ts';
import { DEFAULT_MAX_DELETE_RATIO } from './mass-delete-guard.ts';
import { reconcileStream, type ReconcileSummary } from './reconcile.ts';
import { adoptStreamIdentity, cursorSignature } from './stream-identity.ts';
import type { StreamPlan } from './stream-plan.ts';
import { compareCursor, futureBound, versionKey } from './watermark.ts';
import { guardedId, unguardId } from '../store/external-id-text.ts';

/** What verify counts as a difference; each fails the verify. */
export const DIFFERENCE_KINDS = ['missing', 'stale', 'extra'] as const;
export type DifferenceKind = (typeof DIFFERENCE_KINDS)[number];

// Example keys per kind in a report: ids only, never a field's value.
const EXAMPLES = 5;

export interface VerifyOptions {
  store: StateStore;
  connector: RegisteredConnector;
  /** One stream; default every stream of the connector. */
  stream?: string;
  /** Inclusive cursor bounds as text, as for a backfill. */
  from?: string;
  to?: string;
  /** Send what is missing or stale, and hand extras to reconcile. */
  repair?: boolean;
  /** Reconcile's guard, for the extras a repair hands it. */
  maxDeleteRatio?: number;
  allowMassDelete?: boolean;
  maxRowsPerSecond?: number;
  /** The caller holds a slot of the source for this verify (the scheduler takes one per job); else verify waits for one. */
  slotHeld?: boolean;
  /** Rows per page (default the stream's page size). */
  pageSize?: number;
  signal?: AbortSignal;
  log: Logger;
  runtime?: RuntimeEnv;
}

/** A kind of finding: how many, and a few external ids. */
export interface Finding {
  count: number;
  examples: string[];
}

export interface StreamVerification {
  connector: string;
  stream: string;
  runId: string;
  /** Rows of the view read (under the settle ceiling, within --from/--to). */
  viewRows: number;
  /** Records delivered and not deleted (within --from/--to by version). */
  delivered: number;
  ranges: number;
  rangesDiffering: number;
  missing: Finding;
  stale: Finding;
  extra: Finding;
  /** Open quarantine entries of the stream (not a difference: `rejects` lists them). */
  quarantined: Finding;
  /** Rows whose cursor is past the settle ceiling: the next pulls read them. */
  settling: number;
  /** Rows whose cursor is ahead of the partner clock by more than the settle window (a wrong time zone). */
  ahead: number;
  /** The settle ceiling the scan ended under. */
  ceiling?: string;
  /** missing + stale + extra. */
  differences: number;
  repair?: RepairOutcome;
}

export interface RepairOutcome {
  runId?: string;
  sent: number;
  deleted: number;
  quarantined: number;
  /** Rows a repair cannot send: the record holds a newer version than the row's cursor (a writer moved it back). */
  notRepairable: Finding;
  reconcile?: Pick<ReconcileSummary, 'runId' | 'deleted' | 'guardTripped'> & { error?: string };
}

/** A row found to differ: what the repair re-reads. */
interface RowDifference {
  kind: 'missing' | 'stale';
  externalId: string;
  key: string[];
}

/** Verifies every stream of the connector (or one); `--repair` repairs each after its scan. */
export async function verifyConnector(options: VerifyOptions): Promise<StreamVerification[]> {
  const streams = options.stream ? [options.stream] : options.connector.config.streams.map((s) => s.name);
  const out: StreamVerification[] = [];
  for (const stream of streams) out.push(await verifyStream(options, stream));
  return out;
}

/** The hold a verify of a stream takes: one verify at a time per stream; pulls go on beside it. */
function verifyHoldKey(ref: StreamRef): string {
  return `verify ${ref.connectorId}/${ref.stream}`;
}

async function verifyStream(options: VerifyOptions, stream: string): Promise<StreamVerification> {
  const { store, connector } = options;
  const ref: StreamRef = { connectorId: connector.id, stream };
  const hold = await holdsOf(store).tryTake(verifyHoldKey(ref));
  if (!hold) throw new PullerError('RP_STREAM_BUSY', `a verify of ${connector.id}/${stream} is already running in a live process`);
  let result: StreamVerification;
  try {
    // Holding the verify of the stream, any other running verify row belongs to a process that died.
    await store.updateTable('runs').set(abandoned()).where('connector_id', '=', ref.connectorId).where('stream', '=', ref.stream)
      .where('status', '=', 'running').where('kind', '=', 'verify').execute();
    const run = await startRun(store, ref, 'verify', await loadWatermark(store, ref), { hold, signal: options.signal });
    const log = options.log.child({ tenant: connector.tenant, connector: connector.id, stream, run: run.id });
    const counts: RunCounts = { ...ZERO_COUNTS };
    try {
      const sink = createSink(await reachTarget(connector.config, storeRuntime(store, options.runtime)), options.log);
      try {
        const found = await withPlannedStream(store, connector, stream, options.runtime, async (plan, source) => {
          await checkIdentity(store, ref, plan, sink);
          return new StreamScan(options, plan, source, sink, run.id, run.signal).run();
        }, { held: options.slotHeld, signal: run.signal, log });
        counts.rowsRead = found.report.viewRows;
        counts.pages = found.report.ranges;
        await run.finish('succeeded', counts);
        result = { ...found.report, runId: run.id };
        if (options.repair && result.differences > 0) {
          result.repair = await repairStream(options, ref, found.rows, found.extras, sink, log);
        }
      } finally {
        await sink.close();
      }
    } catch (error) {
      await run.finish('failed', counts, error);
      throw error;
    }
    await store.updateTable('runs').set({ detail: JSON.stringify(detailOf(result)) }).where('id', '=', run.id).execute();
    log.info({ differences: result.differences, missing: result.missing.count, stale: result.stale.count, extra: result.extra.count,
      quarantined: result.quarantined.count, settling: result.settling, ahead: result.ahead }, 'verified');
  } finally {
    await hold.release();
  }
  return result;
}

/** What run history keeps of a verify: counts and example ids. */
function detailOf(r: StreamVerification): object {
  const { connector: _c, stream: _s, runId: _r, ...rest } = r;
  return rest;
}

/**
 * A verify compares with the delivery record of the target and cursor it was made with; it
 * records nothing itself, so a stream never delivered is simply all missing.
 */
async function checkIdentity(store: StateStore, ref: StreamRef, plan: StreamPlan, sink: Sink): Promise<void> {
  const row = await store.selectFrom('streams').select(['delivers_to', 'cursor_signature'])
    .where('connector_id', '=', ref.connectorId).where('name', '=', ref.stream).executeTakeFirst();
  if (row?.delivers_to != null && row.delivers_to !== sink.target) {
    throw new PullerError('RP_SINK_CHANGED', `stream ${ref.connectorId}/${ref.stream} delivers to ${row.delivers_to}, but this process ` +
      `would compare it with ${sink.target}. Run verify where that target is configured`);
  }
  if (row?.cursor_signature != null && row.cursor_signature !== cursorSignature(plan)) {
    throw new PullerError('RP_CURSOR_CHANGED', `stream ${ref.connectorId}/${ref.stream} was delivered with the cursor ${row.cursor_signature}; ` +
      `its cursor is ${cursorSignature(plan)} now. Run a pull first (it adopts the new cursor), then verify`);
  }
}

/** A row of the view in the range being compared. */
interface ScannedRow {
  row: SourceRow;
  position: Position;
}

/** One verify scan of a stream: ranges compared by digest, rows only where a range differs. */
class StreamScan {
  readonly #ref: StreamRef;
  readonly #kind: StreamPlan['cursorKind'];
  /** Rows found missing or stale, by external id (a later finding of the same record wins). */
  readonly #rows = new Map<string, RowDifference>();
  /** Ids of view rows in the ranges compared row by row. */
  readonly #seen = new Set<string>();
  /** Delivered ids not (yet) found among the view rows of the ranges compared. */
  readonly #unmatched = new Set<string>();
  #viewRows = 0;
  #ranges = 0;
  #differing = 0;

  constructor(
    private readonly options: VerifyOptions,
    private readonly plan: StreamPlan,
    private readonly source: Source,
    private readonly sink: Sink,
    private readonly runId: string,
    private readonly signal: AbortSignal,
  ) {
    this.#ref = { connectorId: plan.connector.id, stream: plan.stream.name };
    this.#kind = plan.cursorKind;
  }

  async run(): Promise<{ report: Omit<StreamVerification, 'runId'>; rows: RowDifference[]; extras: string[] }> {
    const { plan, source, options } = this;
    const bounds = await this.#bounds();
    const pageSize = options.pageSize ?? plan.pageSize;
    const limiter = options.maxRowsPerSecond ? new RateLimiter(options.maxRowsPerSecond) : undefined;
    let lo: CursorValue | undefined = bounds.lower;
    let range: ScannedRow[] = [];
    let last: { upTo?: CursorValue; ceiling?: CursorValue; position?: Position } | undefined;
    const pages = readRange({
      plan, source, pageSize, signal: this.signal, runId: this.runId, upTo: bounds.upper,
      after: bounds.lower === undefined ? undefined : { cursor: bounds.lower, key: [] },
    });
    // A range is compared while the next one is read and judged; findings are recorded in range order.
    const ranges = new InOrder();
    try {
      for await (const read of pages) {
        const page = bounds.lower === undefined ? read : rowsAbove(read, bounds.lower, this.#kind);
        await limiter?.take(page.rows.length, this.signal);
        this.#viewRows += page.rows.length;
        page.rows.forEach((row, i) => range.push({ row, position: page.positions[i]! }));
        last = { upTo: read.upTo, ceiling: read.ceiling, position: read.positions.at(-1) ?? last?.position };
        if (read.rows.length < pageSize) break;
        // Cut before the last cursor value of the page: rows at it may go on in the next page.
        const tail = range.at(-1)!.position.cursor;
        const cut = range.findLastIndex((r) => compareCursor(this.#kind, r.position.cursor, tail) < 0);
        if (cut < 0) continue;
        const hi = range[cut]!.position.cursor;
        await ranges.add(this.#compare(range.slice(0, cut + 1), lo, hi));
        range = range.slice(cut + 1);
        lo = hi;
      }
      // The last range reaches the bound the last page was read under (the ceiling, or --to).
      await ranges.add(this.#compare(range, lo, last?.upTo));
      await ranges.drain();
    } finally {
      await ranges.settle();
    }
    const tail = await this.#tail(last, bounds.upper);
    const extras = [...this.#unmatched].filter((id) => !tail.ids.has(id)).sort();
    const found = [...this.#rows.values()];
    const finding = (kind: RowDifference['kind']) => {
      const ids = found.filter((d) => d.kind === kind).map((d) => d.externalId).sort();
      return { count: ids.length, examples: ids.slice(0, EXAMPLES) };
    };
    const report = {
      connector: this.#ref.connectorId, stream: this.#ref.stream,
      viewRows: this.#viewRows,
      delivered: await this.#deliveredCount(bounds.lower, bounds.upper),
      ranges: this.#ranges, rangesDiffering: this.#differing,
      missing: finding('missing'), stale: finding('stale'),
      extra: { count: extras.length, examples: extras.slice(0, EXAMPLES) },
      quarantined: await this.#quarantined(),
      settling: tail.settling, ahead: tail.ahead, ceiling: last?.upTo,
      differences: 0,
    };
    report.differences = report.missing.count + report.stale.count + report.extra.count;
    return { report, rows: found, extras };
  }

  /** --from/--to as cursor values: `lower` exclusive (one step below --from), `upper` inclusive. */
  async #bounds(): Promise<{ lower?: CursorValue; upper?: CursorValue }> {
    const { from, to } = this.options;
    if (from === undefined && to === undefined) return {};
    const digits = await this.source.withReadSession(async (s) => /\.(\d+)Z$/.exec(await s.clockUtc())?.[1]?.length ?? 6);
    return {
      lower: from === undefined ? undefined : predecessor(this.#kind, parseBound(this.#kind, '--from', from, digits)),
      upper: to === undefined ? undefined : parseBound(this.#kind, '--to', to, digits),
    };
  }

  /**
   * Compares one range (lo, hi] of the view with the delivery record; row by row only when
   * their digests differ. Reads only; what it found is recorded by the step it returns.
   */
  async #compare(rows: ScannedRow[], lo: CursorValue | undefined, hi: CursorValue | undefined): Promise<() => void> {
    this.#ranges++;
    const { plan } = this;
    const verdicts = rows.map((r) => ({ ...r, verdict: judgeRow(plan, r.row, r.position) }));
    // Later rows win, as in a delivered page: each id's last verdict of the range.
    const latest = new Map<string, RowVerdict>();
    for (const { verdict, position } of verdicts) {
      latest.set('candidate' in verdict ? verdict.candidate.externalId : verdict.externalId ?? `key:${JSON.stringify(position.key)}`, verdict);
    }
    const view = new Map([...latest].map(([id, verdict]) => [id, 'candidate' in verdict ? verdict.candidate.entry.contentHash : 'rejected']));
    const reads = allEnded([this.#storedDigest(lo, hi), this.#resourcesDiffering(latest.values())] as const);
    const viewDigest = digest(view);
    const [stored, resourceDiffers] = await reads;
    if (stored === viewDigest && resourceDiffers.size === 0) return () => undefined;
    const [delivered, openKeys, deliveredIds] = await allEnded([
      loadDelivered(this.options.store, this.#ref, [...view.keys()]),
      this.#openQuarantine(verdicts.filter((v) => !('candidate' in v.verdict)).map((v) => v.position.key)),
      this.#deliveredIds(lo, hi),
    ] as const);
    return () => {
      this.#differing++;
      for (const { verdict, position } of verdicts) {
        const id = 'candidate' in verdict ? verdict.candidate.externalId : verdict.externalId;
        if (id !== null) {
          this.#seen.add(id);
          this.#unmatched.delete(id);
        }
        const d = id === null ? undefined : delivered.get(id);
        const live = d !== undefined && !d.deleted;
        let kind: RowDifference['kind'] | undefined;
        if (!('candidate' in verdict)) {
          // A row that does not map: quarantined if an entry is open, else a repair quarantines it.
          if (!openKeys.has(quarantineKey(position.key)) && id !== null) kind = live ? 'stale' : 'missing';
        } else if (verdict.candidate.delete) {
          if (live) kind = 'stale';
        } else if (!live) kind = 'missing';
        else if (d.contentHash !== verdict.candidate.entry.contentHash || resourceDiffers.has(id!)) kind = 'stale';
        if (kind && id !== null) this.#rows.set(id, { kind, externalId: id, key: position.key });
        else if (id !== null) this.#rows.delete(id);
      }
      // Delivered records of the range whose rows are not in it: extra, unless their row is elsewhere in the view.
      for (const id of deliveredIds) {
        if (!view.has(id) && !this.#seen.has(id)) this.#unmatched.add(id);
      }
    };
  }

  /** The store's digest of the range: delivered records by version, reconcile's deletes left out. */
  async #storedDigest(lo: CursorValue | undefined, hi: CursorValue | undefined): Promise<string> {
    const { rows } = await sql<{ n: string; s: string }>`
      select count(*)::text as n,
        coalesce(sum(('x' || left(md5(external_id || chr(1) || content_hash), 15))::bit(60)::bigint), 0)::text as s
      from delivered
      where ${this.#versionRange(lo, hi)}
        and not (deleted and version like '%+')`.execute(this.options.store);
    return `${rows[0]!.n}:${rows[0]!.s}`;
  }

  /** Delivered, not deleted, with a version in the range. */
  async #deliveredIds(lo: CursorValue | undefined, hi: CursorValue | undefined): Promise<string[]> {
    const { rows } = await sql<{ guarded_id: string }>`
      select ${guardedId()} as guarded_id from delivered
      where ${this.#versionRange(lo, hi)} and not deleted`
      .execute(this.options.store);
    return rows.map((r) => unguardId(r.guarded_id));
  }

  async #deliveredCount(lo: CursorValue | undefined, hi: CursorValue | undefined): Promise<number> {
    const { rows } = await sql<{ n: string }>`
      select count(*)::text as n from delivered
      where ${this.#versionRange(lo, hi)} and not deleted`
      .execute(this.options.store);
    return Number(rows[0]!.n);
  }

  /**
   * version in (lo, hi], compared byte-wise like every writer of `delivered`; an open end is
   * unbounded. In the terms of its index (migration 0011): the stream as one expression.
   */
  #versionRange(lo: CursorValue | undefined, hi: CursorValue | undefined) {
    const above = lo === undefined ? sql`true` : sql`(version collate "C") > ${versionKey(this.#kind, lo)}`;
    const below = hi === undefined ? sql`true` : sql`(version collate "C") <= ${versionKey(this.#kind, hi)}`;
    return sql`(connector_id || '/' || stream) = ${`${this.#ref.connectorId}/${this.#ref.stream}`} and ${above} and ${below}`;
  }

  /**
   * The built-in store keeps the records themselves: ids whose stored record differs from the
   * row's mapping today in a mapped field (a field mapped to null must be absent, as Reach's
   * merge deletes it), or is absent or deleted. Compared by the store (jsonb equality).
   */
  async #resourcesDiffering(latest: Iterable<RowVerdict>): Promise<Set<string>> {
    if (this.sink.kind !== 'store') return new Set();
    // Each id's last row of the range only: an earlier one is not its record.
    const records = [...latest].flatMap((verdict) => ('candidate' in verdict && verdict.candidate.upsert
      ? [`{"id":${JSON.stringify(verdict.candidate.externalId)},"body":${verdict.candidate.upsert.json}}`] : []));
    if (records.length === 0) return new Set();
    // The lateral LIMIT makes it one primary-key probe per record whatever the statistics say:
    // as a join, a table not analyzed since it filled was read whole for every range.
    const { rows } = await sql<{ guarded_id: string }>`
      select ${guardedId('x.id')} as guarded_id from jsonb_to_recordset(${`[${records.join(',')}]`}::jsonb) as x(id text, body jsonb)
      left join lateral (
        select r.external_id, r.body, r.deleted from resources r
        where r.tenant_id = ${this.plan.connector.tenant} and r.schema_name = ${this.plan.definition.name} and r.external_id = x.id limit 1) r on true
      where r.external_id is null or r.deleted or exists (
        select 1 from jsonb_each(x.body) f
        where case when f.value = 'null'::jsonb then r.body ? f.key else (r.body -> f.key) is distinct from f.value end)`
      .execute(this.options.store);
    return new Set(rows.map((r) => unguardId(r.guarded_id)));
  }

  /** Source keys (as `quarantineKey`) of these rows with an open quarantine entry. */
  async #openQuarantine(keys: string[][]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const rows = await this.options.store.selectFrom('rejected_records').select('source_key')
      .where('connector_id', '=', this.#ref.connectorId).where('stream', '=', this.#ref.stream).where('resolved_at', 'is', null)
      .where(sql<boolean>`source_key = any(${keys.map(quarantineKey)}::jsonb[])`).execute();
    return new Set(rows.map((r) => JSON.stringify(r.source_key)));
  }

  async #quarantined(): Promise<Finding> {
    const count = await countOpenRejections(this.options.store, this.#ref);
    if (count === 0) return { count, examples: [] };
    const page = await listRejectionPage(this.options.store, this.#ref.connectorId, { stream: this.#ref.stream }, { limit: EXAMPLES });
    return { count, examples: page.items.map((e) => e.externalId ?? JSON.stringify(e.sourceKey)) };
  }

  /**
   * Rows past the ceiling the scan ended under: counted as settling or ahead of the partner
   * clock, never as differences; and a delivered record whose row moved there is not extra.
   */
  async #tail(last: { upTo?: CursorValue; ceiling?: CursorValue; position?: Position } | undefined, upper: CursorValue | undefined):
    Promise<{ settling: number; ahead: number; ids: Set<string> }> {
    const ids = new Set<string>();
    const ceiling = last?.ceiling;
    // An integer cursor (but a rowversion) has no ceiling; a --to below the ceiling leaves nothing settling.
    if (last === undefined || ceiling === undefined || (upper !== undefined && compareCursor(this.#kind, upper, ceiling) <= 0)) {
      return { settling: 0, ahead: 0, ids };
    }
    const { plan } = this;
    const counted = await this.source.withReadSession(async (session) => {
      const past = await session.countAfter(plan.spec, ceiling);
      const future = futureBound(this.#kind, await session.clockUtc(), plan.settleSeconds, plan.timezone);
      const ahead = future === undefined ? 0 : await session.countAfter(plan.spec, future);
      return { settling: past - ahead, ahead };
    });
    if (this.#unmatched.size > 0) {
      const idOnly = { ...plan, spec: { ...plan.spec, columns: [...new Set([...plan.stream.primary_key, ...plan.mapper.idColumns])] } };
      const after = { cursor: ceiling, key: [] };
      for await (const page of readRange({ plan: idOnly, source: this.source, after, upTo: upper, pageSize: plan.pageSize, unsettled: true, signal: this.signal })) {
        for (const row of page.rows) {
          try {
            ids.add(plan.mapper.externalId(row));
          } catch {
            // An id that does not map protects nothing, as in reconcile.
          }
        }
      }
    }
    return { ...counted, ids };
  }
}

/** A source key as its quarantine entry holds it (jsonb): U+0000 and lone surrogates as U+FFFD, as `quarantine` writes them. */
function quarantineKey(key: string[]): string {
  return JSON.stringify(key.map(storableText));
}

/**
 * Reads run side by side, their results once every one has ended: when one fails, the others
 * are not left running behind the failure (a failed verify returns with none of its reads of
 * the store still running). Throws the first failure, in the order given.
 */
async function allEnded<T extends readonly unknown[]>(reads: T): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const ended = await Promise.allSettled(reads);
  const failed = ended.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return ended.map((r) => (r as PromiseFulfilledResult<unknown>).value) as { -readonly [K in keyof T]: Awaited<T[K]> };
}

/** An order-independent digest of (external id, content hash) pairs: their count and the sum of 60-bit md5 prefixes. */
function digest(pairs: Map<string, string>): string {
  // Each prefix as 28 high and 32 low bits, summed as numbers: exact below 2^21 terms, so
  // folded into the bigint every million.
  let sum = 0n;
  let high = 0;
  let low = 0;
  let terms = 0;
  for (const [id, hash] of pairs) {
    const md5 = hexDigest('md5', `${id}\u0001${hash}`);
    high += Number.parseInt(md5.slice(0, 7), 16);
    low += Number.parseInt(md5.slice(7, 15), 16);
    if (++terms % 1_000_000 === 0) {
      sum += (BigInt(high) << 32n) + BigInt(low);
      high = low = 0;
    }
  }
  return `${pairs.size}:${sum + (BigInt(high) << 32n) + BigInt(low)}`;
}

/**
 * Delivers the rows found missing or stale again, as a keyed re-read in a `repair` run that
 * holds the stream (mapping, validation, quarantine, the one delivery order, the sink, a
 * checkpoint that never moves the watermark), then hands extras to reconcile.
 */
async function repairStream(options: VerifyOptions, ref: StreamRef, found: RowDifference[], extras: string[], sink: Sink, log: Logger): Promise<RepairOutcome> {
  const { store, connector } = options;
  const outcome: RepairOutcome = { sent: 0, deleted: 0, quarantined: 0, notRepairable: { count: 0, examples: [] } };
  if (found.length > 0) {
    const watermark = await loadWatermark(store, ref);
    const run = await startRun(store, ref, 'repair', watermark, { signal: options.signal });
    outcome.runId = run.id;
    let counts: RunCounts = { ...ZERO_COUNTS };
    try {
      await withPlannedStream(store, connector, ref.stream, options.runtime, async (plan, source) => {
        await adoptStreamIdentity(store, ref, plan, sink, { holdsStream: true, log });
        const ctx = { plan, store, sink, run, openRejections: { value: true } };
        await readByKeys(plan, source, run.id, found.map((d) => d.key), async ({ judged }) => {
          const ids = [...judged.candidates.keys()];
          const known = await loadDelivered(store, ref, ids);
          const older = ids.filter((id) => (known.get(id)?.version ?? '') > judged.candidates.get(id)!.entry.version);
          for (const id of older) judged.candidates.delete(id);
          outcome.notRepairable.count += older.length;
          outcome.notRepairable.examples.push(...older.slice(0, EXAMPLES - outcome.notRepairable.examples.length));
          // What verify found stale at the same version was taken for delivered: forget its content so the one
          // delivery order sends it (same version, other content), and the store's guard lets it through.
          // Only those it will send: a record delivered at a newer version keeps what it has.
          await forgetDeliveredContent(store, ref, [...judged.candidates.keys()], 'verify: stale');
          const result = await deliverJudged(ctx, judged, { beforeCommit: (trx, o) => recordProgress(trx, run.id, addPage(counts, o), watermark) });
          counts = addPage(counts, result);
        });
      }, { signal: run.signal, log });
      await run.finish('succeeded', counts);
    } catch (error) {
      await run.finish('failed', counts, error);
      throw error;
    }
    outcome.sent = counts.rowsSent;
    outcome.deleted = counts.rowsDeleted;
    outcome.quarantined = counts.rowsRejected;
  }
  if (extras.length > 0) {
    try {
      // Only the extras this verify found: a repair within --from/--to deletes nothing outside them.
      const r = await reconcileStream({
        store, connector, stream: ref.stream, log, runtime: options.runtime, among: extras, signal: options.signal,
        maxDeleteRatio: options.maxDeleteRatio ?? DEFAULT_MAX_DELETE_RATIO, allowMassDelete: options.allowMassDelete,
      });
      outcome.reconcile = { runId: r.runId, deleted: r.deleted, guardTripped: r.guardTripped };
    } catch (error) {
      // The guard refused: nothing was deleted; the report says why and verify still counts the extras.
      if (!(error instanceof PullerError && error.code === 'RP_MASS_DELETE')) throw error;
      outcome.reconcile = { deleted: 0, guardTripped: true, error: `${error.code} ${error.message} ${error.advice}` };
    }
  }
  return outcome;
}
