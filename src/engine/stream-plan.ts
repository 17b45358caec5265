/**
 * Everything a run needs to know about a stream before it reads a row: the view's columns
 * checked against what the stream uses (drift), the cursor's kind, the read spec and the
 * record mapper. A missing column stops here with its name; it is never read as NULL.
 */
import type { StreamConfig } from '../config/connector-schema.ts';
import { streamTimeZone } from '../config/stream-time-zone.ts';
import { PermanentError, PullerError } from '../errors.ts';
import type { CursorKind, CursorValue } from '../interfaces.ts';
import { settleCeiling } from './watermark.ts';
import { compileRecordMapper, type RecordMapper } from '../mapping/record-mapper.ts';
import type { SchemaCatalog, SchemaDefinition } from '../mapping/schema-definitions.ts';
import type { ColumnInfo, ReadSession, ReadSpec, Source } from '../sources/source.ts';
import type { RegisteredConnector } from '../store/connector-registry.ts';
import type { StreamRef } from '../store/delivery-state.ts';

/** A stream ready to read. */
export interface StreamPlan {
  connector: RegisteredConnector;
  stream: StreamConfig;
  definition: SchemaDefinition;
  spec: ReadSpec;
  cursorKind: CursorKind;
  mapper: RecordMapper;
  viewColumns: ColumnInfo[];
  pageSize: number;
  settleSeconds: number;
  /** Zone of the view's wall-clock values (local cursors, mapped dates). */
  timezone: string;
  /** Smallest step of the cursor's values in 100 ns ticks (a day for DATE); the settle ceiling keeps a grain back. */
  grainTicks: bigint;
}

export const DEFAULT_PAGE_SIZE = 5000;

/** Finds a stream of a connector by name, or RP_NOT_FOUND listing the names. */
export function findStream(connector: RegisteredConnector, name: string): StreamConfig {
  const stream = connector.config.streams.find((s) => s.name === name);
  if (!stream) {
    const names = connector.config.streams.map((s) => s.name).join(', ');
    throw new PullerError('RP_NOT_FOUND', `connector ${connector.id} has no stream "${name}" (it has: ${names})`);
  }
  return stream;
}

/** Introspects the view and builds the plan; throws PermanentError on drift. */
export async function planStream(
  source: Source,
  connector: RegisteredConnector,
  stream: StreamConfig,
  schemas: SchemaCatalog,
): Promise<StreamPlan> {
  const definition = schemas.get(stream.schema);
  if (!definition) {
    throw new PermanentError('RP_NOT_FOUND', `stream ${connector.id}/${stream.name}: Reach schema "${stream.schema}" is not defined`);
  }
  const timezone = streamTimeZone(connector.config, stream);
  const mapper = compileRecordMapper({
    stream,
    definition,
    timezone,
    defaultPhoneRegion: connector.config.default_phone_region,
  });
  const viewColumns = await source.describeView(stream.view);
  const byName = new Map(viewColumns.map((c) => [c.name, c]));
  const keyColumns = [stream.cursor, ...(stream.cursor_fallback ? [stream.cursor_fallback] : []), ...stream.primary_key];
  const filterColumns = Object.keys(stream.filter ?? {});
  const columns = [...new Set([...keyColumns, ...mapper.columnsUsed])];
  const missing = [...new Set([...columns, ...filterColumns])].filter((c) => !byName.has(c));
  if (missing.length > 0) {
    throw new PermanentError(
      'RP_COLUMN_MISSING',
      `view ${stream.view} (stream ${connector.id}/${stream.name}) has no column ${missing.join(', ')}`,
    );
  }
  const cursorColumn = byName.get(stream.cursor)!;
  const cursorKind = source.cursorKind(cursorColumn);
  if (stream.cursor_fallback && source.cursorKind(byName.get(stream.cursor_fallback)!) !== cursorKind) {
    throw new PermanentError('RP_CURSOR_UNSUPPORTED', `cursor_fallback ${stream.cursor_fallback} is not the same kind of value as ${stream.cursor}`);
  }
  return {
    connector,
    stream,
    definition,
    mapper,
    viewColumns,
    cursorKind,
    pageSize: stream.page_size ?? DEFAULT_PAGE_SIZE,
    settleSeconds: stream.settle_seconds ?? connector.config.source.settle_seconds,
    timezone,
    grainTicks: cursorKind === 'integer' ? 1n : coarsest(source, [cursorColumn, ...(stream.cursor_fallback ? [byName.get(stream.cursor_fallback)!] : [])]),
    spec: {
      view: stream.view,
      columns,
      primaryKey: stream.primary_key,
      cursor: stream.cursor,
      cursorFallback: stream.cursor_fallback,
      cursorKind,
      cursorType: byName.get(stream.cursor)!.dataType,
      filter: stream.filter ?? {},
      binaryKeys: stream.primary_key.map((c) => source.isBinary(byName.get(c)!)),
    },
  };
}

/** Who writes a stream's records, as the built-in store keeps it per record: `connector/stream`. */
export function streamWriter(ref: StreamRef): string {
  return `${ref.connectorId}/${ref.stream}`;
}

/** The coarsest grain of the cursor columns (a cursor with a fallback compares values of both). */
function coarsest(source: Source, columns: ColumnInfo[]): bigint {
  return columns.map((c) => source.cursorGrain(c)).reduce((a, b) => (a > b ? a : b));
}

/**
 * The newest cursor a read of the stream may take in this read session: the settle ceiling of
 * its partner clock (watermark.ts); for an integer cursor, the session's committed ceiling
 * where the database assigns the counter (SQL Server's rowversion), else none.
 */
export async function readCeiling(plan: StreamPlan, session: ReadSession): Promise<CursorValue | undefined> {
  if (plan.cursorKind === 'integer') return session.committedCeiling(plan.spec);
  return settleCeiling(plan.cursorKind, await session.clockUtc(), plan.settleSeconds, plan.timezone, plan.grainTicks);
}
