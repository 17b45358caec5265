/**
 * A page of view rows judged: each row mapped and validated into a candidate record (what
 * to send, what to remember once delivered) or a rejection naming the field. CPU only, so a
 * run judges the next page while the previous one is delivered. Also the context and the
 * counts every delivery of a page shares.
 */
import { RecordError } from '../errors.ts';
import type { Position, SourceRow } from '../interfaces.ts';
import { contentHash, recordJson } from '../mapping/content-hash.ts';
import { validate } from '../mapping/validator.ts';
import type { Delete, Sink, StateStore, Upsert } from '../sinks/sink.ts';
import type { DeliveredEntry, Rejection, StreamRef } from '../store/delivery-state.ts';
import type { LiveRun } from '../store/run-records.ts';
import type { StreamPlan } from './stream-plan.ts';
import { versionKey } from './watermark.ts';

/** What happened to a page's rows. */
export interface PageOutcome {
  read: number;
  sent: number;
  deleted: number;
  unchanged: number;
  rejected: number;
}

export interface PageContext {
  plan: StreamPlan;
  store: StateStore;
  sink: Sink;
  run: LiveRun;
  /** Whether open quarantine entries may exist for the stream, so delivered keys may resolve them; set once this run quarantines. */
  openRejections: { value: boolean };
}

/** The stream a context delivers. */
export function streamRef(ctx: Pick<PageContext, 'plan'>): StreamRef {
  return { connectorId: ctx.plan.connector.id, stream: ctx.plan.stream.name };
}

/** A row that maps: what to send for it and what to remember once it is delivered. */
export interface Candidate {
  externalId: string;
  sourceKey: string[];
  sourceCursor: string;
  entry: DeliveredEntry;
  upsert?: Upsert;
  delete?: Delete;
}

/** One row's fate: a record to upsert or delete, or a rejection naming the field(s). */
export type RowVerdict = { candidate: Candidate } | { externalId: string | null; error: RecordError };

/**
 * Maps, checks and validates one row. A soft-deleted row needs only its external id, so
 * a bad value elsewhere in it never keeps the delete from Reach.
 */
export function judgeRow(plan: StreamPlan, row: SourceRow, position: Position): RowVerdict {
  const version = versionKey(plan.cursorKind, position.cursor);
  let externalId: string | null = null;
  try {
    if (plan.mapper.isDeleted(row)) {
      externalId = storableId(plan.mapper.externalId(row));
      return { candidate: deleteCandidate(externalId, version, position) };
    }
    const mapped = plan.mapper.mapRow(row);
    externalId = storableId(mapped.externalId);
    const verdict = validate(plan.definition, mapped.record);
    if (!verdict.ok) throw new RecordError(verdict.fields, verdict.message);
    const json = recordJson(mapped.record);
    // JSON writes U+0000 as \u0000 and a lone surrogate as \udXXX: a cheap first look on the
    // text, then the fields themselves.
    const suspect = json.includes('\\u0000') || LONE_SURROGATE_IN_JSON.test(json);
    const badFields = suspect ? Object.keys(mapped.record).filter((f) => holdsUnstorable(mapped.record[f])) : [];
    if (badFields.length > 0) throw new RecordError(badFields, unstorableReason(badFields.map((f) => mapped.record[f])));
    return { candidate: {
      externalId, sourceKey: position.key, sourceCursor: position.cursor,
      entry: { externalId, contentHash: contentHash(json), version, deleted: false },
      upsert: { externalId, json, version },
    } };
  } catch (error) {
    if (!(error instanceof RecordError)) throw error;
    return { externalId: externalId ?? idIfMappable(plan, row), error };
  }
}

// PostgreSQL text and jsonb refuse U+0000 and a lone UTF-16 surrogate (a partner's json or
// nvarchar can hold one; UTF-8 cannot): the built-in store's records and every record key the
// state store keeps. A page holding one would fail at every commit and stop its stream for good.
const NUL = /\u0000/;
const LONE_SURROGATE = /\p{Cs}/u; // with the u flag a surrogate pair is one code point: only lone halves match
const LONE_SURROGATE_IN_JSON = /\\ud[89a-f]/;

function holdsUnstorable(value: unknown): boolean {
  if (typeof value === 'string') return NUL.test(value) || LONE_SURROGATE.test(value);
  // Object keys too: a json column's key reaches jsonb like its values.
  return typeof value === 'object' && value !== null && Object.entries(value).some(([k, v]) => holdsUnstorable(k) || holdsUnstorable(v));
}

function unstorableReason(values: unknown[]): string {
  return JSON.stringify(values).includes('\\u0000')
    ? 'contains a NUL character (U+0000), which PostgreSQL text cannot hold'
    : 'contains a lone UTF-16 surrogate (half of a character), which UTF-8 and so PostgreSQL text cannot hold';
}

/** The external id, unless it holds a NUL or a lone surrogate: the claims and the delivered record key on it as PostgreSQL text. */
function storableId(id: string): string {
  if (holdsUnstorable(id)) throw new RecordError(['id'], `the external id ${JSON.stringify(id)} ${unstorableReason([id])}`);
  return id;
}

/** A delete of a record at a version (a soft-deleted row, or reconcile's hard delete). */
export function deleteCandidate(externalId: string, version: string, position: Position): Candidate {
  return {
    externalId, sourceKey: position.key, sourceCursor: position.cursor,
    entry: { externalId, contentHash: 'deleted', version, deleted: true },
    delete: { externalId, version },
  };
}

/** The row's external id when it maps on its own, so a rejection still names the record. */
function idIfMappable(plan: StreamPlan, row: SourceRow): string | null {
  try {
    return storableId(plan.mapper.externalId(row));
  } catch (error) {
    if (error instanceof RecordError) return null;
    throw error;
  }
}

/** A page mapped and validated, not yet compared with what was delivered. */
export interface JudgedPage {
  read: number;
  /** By external id; later rows of the page win. */
  candidates: Map<string, Candidate>;
  rejections: Rejection[];
}

/**
 * Maps and validates a page: CPU only, no I/O, so a caller can judge the next page while
 * the previous one is being delivered.
 */
export function judgePage(plan: StreamPlan, runId: string, rows: SourceRow[], positions: Position[]): JudgedPage {
  const rejections: Rejection[] = [];
  // Later rows win: within a page, rows come in cursor order, so the last is the newest.
  const candidates = new Map<string, Candidate>();
  rows.forEach((row, i) => {
    const position = positions[i]!;
    const verdict = judgeRow(plan, row, position);
    if ('candidate' in verdict) {
      candidates.set(verdict.candidate.externalId, verdict.candidate);
      return;
    }
    rejections.push({
      runId, tenant: plan.connector.tenant, externalId: verdict.externalId, sourceKey: position.key,
      sourceCursor: position.cursor, fields: verdict.error.fields, reason: verdict.error.message,
    });
  });
  return { read: rows.length, candidates, rejections };
}

/** A page's counts before any record is decided: rows read, rejections, and rows superseded within the page. */
export function emptyOutcome(judged: JudgedPage): PageOutcome {
  const rejected = judged.rejections.length;
  return { read: judged.read, sent: 0, deleted: 0, unchanged: judged.read - rejected - judged.candidates.size, rejected };
}

