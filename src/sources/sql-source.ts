/**
 * The Source every dialect shares: read sessions on a pooled connection inside a read-only
 * transaction, keyset pages, streamed scans, view description. The dialect supplies SQL
 * and driver details through SourceDialect.
 */
import type { Knex } from 'knex';
import type { CursorKind, CursorValue, Dialect, Position, SourceRow } from '../interfaces.ts';
import { PermanentError, PullerError } from '../errors.ts';
import { canonicalCursor, canonicalInstant } from './canonical-values.ts';
import type { ConnectionSettings } from './connection-settings.ts';
import { sourceIdentity } from '../config/source-identity.ts';
import { toSourceError, type ErrorContext } from './error-codes.ts';
import { afterCursorQuery, CURSOR_ALIAS, cursorStatsQuery, keyLookupQuery, keysetQuery, keyText, unpositionedQuery } from './keyset.ts';
import type { ColumnInfo, Page, PageRequest, PrivilegeReport, ReadSession, ReadSpec, Source, Unpositioned } from './source.ts';
import { resolutionTicks } from './cursor-time.ts';
import type { SourceDialect } from './source-dialect.ts';
import { answerDeadlineMs, withinAnswerDeadline } from './answer-deadline.ts';

/** knex's mark on a pooled connection that failed or ended: the pool will not hand it out again. */
interface PooledConnection {
  __knex__disposed?: unknown;
}

export class SqlSource implements Source {
  readonly dialect: Dialect;
  /** The shared pool; the same instance for every connector on this source. */
  readonly knex: Knex;
  readonly #impl: SourceDialect;
  readonly #settings: ConnectionSettings;
  readonly #context: ErrorContext;
  readonly #release: () => Promise<void>;
  #closed = false;

  constructor(knex: Knex, impl: SourceDialect, settings: ConnectionSettings, release: () => Promise<void>) {
    this.dialect = impl.dialect;
    this.knex = knex;
    this.#impl = impl;
    this.#settings = settings;
    this.#context = { source: sourceIdentity(settings), secret: settings.password, tls: settings.ssl.mode };
    this.#release = release;
  }

  /**
   * A driver error as a Transient or Permanent PullerError, password scrubbed; with the
   * session's connection, an error that came with the connection's loss is transient.
   */
  error(error: unknown, view?: string, connection?: unknown): PullerError {
    const connectionLost = connection !== undefined && !!(connection as PooledConnection).__knex__disposed;
    return toSourceError(this.dialect, error, { ...this.#context, view, connectionLost });
  }

  /** Waits for the partner's answer on `connection`, within the answer deadline (answer-deadline.ts). */
  answer<T>(connection: unknown, work: PromiseLike<T>): Promise<T> {
    return withinAnswerDeadline(work, answerDeadlineMs(this.#settings.statementTimeoutSeconds), () => {
      (connection as PooledConnection).__knex__disposed ??= 'closed after no answer';
      this.#impl.closeConnection(connection);
    }, this.#context.source);
  }

  async describeView(view: string): Promise<ColumnInfo[]> {
    const [schema, name] = view.includes('.') ? (view.split('.') as [string, string]) : [undefined, view];
    const { sql, bindings } = this.#impl.describeSql(schema, name);
    const rows = await this.withReadSession((session) => session.raw(sql, bindings));
    if (rows.length === 0) {
      throw new PermanentError(
        'RP_VIEW_MISSING',
        `View ${view} does not exist on ${this.#context.source}, or ${this.#settings.user} cannot read it.`,
      );
    }
    return rows.map((row) => ({
      name: String(row.name),
      dataType: String(row.data_type).toLowerCase(),
      precision: row.precision === null || row.precision === undefined ? null : Number(row.precision),
    }));
  }

  cursorKind(column: ColumnInfo): CursorKind {
    const kind = this.#impl.cursorKinds[column.dataType.toLowerCase()];
    if (!kind) {
      throw new PermanentError(
        'RP_CURSOR_UNSUPPORTED',
        `Cursor column ${column.name} has type ${column.dataType}, which cannot order changes on ${this.dialect}.`,
      );
    }
    return kind;
  }

  isBinary(column: ColumnInfo): boolean {
    return this.#impl.binaryTypes.has(column.dataType.toLowerCase());
  }

  cursorGrain(column: ColumnInfo): bigint {
    const fixed = this.#impl.fixedGrains[column.dataType.toLowerCase()];
    if (fixed !== undefined) return fixed;
    const digits = column.precision ?? this.#impl.fractionDigits;
    return resolutionTicks(Math.min(digits, this.#impl.fractionDigits));
  }

  async withReadSession<T>(fn: (session: ReadSession) => Promise<T>): Promise<T> {
    if (this.#closed) throw new Error(`Source ${this.#context.source} is closed.`);
    const client = this.knex.client as { acquireConnection(): Promise<unknown>; releaseConnection(c: unknown): Promise<unknown> };
    let connection: unknown;
    try {
      connection = await client.acquireConnection();
    } catch (error) {
      throw this.error(error);
    }
    try {
      const run = (sql: string, bindings: readonly Knex.RawBinding[] = []) =>
        this.answer(connection, this.knex.raw(sql, bindings as Knex.RawBinding[]).connection(connection)).catch((error: unknown) => {
          throw this.error(error, undefined, connection);
        });
      // The clock first, then the snapshot: a ceiling drawn from a clock read after the snapshot
      // could pass rows that committed in between, which the snapshot does not show.
      // The commit horizon, read with it, comes before the reads for the same reason.
      const [clock] = this.#impl.rowsOf(await run(this.#impl.clockSql));
      const clockUtc = canonicalInstant(String(clock?.now), this.#impl.fractionDigits);
      const horizon = clock?.commit_horizon === undefined || clock.commit_horizon === null ? undefined : String(clock.commit_horizon);
      for (const { sql, bindings } of this.#impl.beginStatements(this.#settings)) await run(sql, bindings);
      return await fn(new SqlReadSession(this, this.#impl, connection, clockUtc, horizon));
    } finally {
      // Nothing was written; a failed rollback means a broken connection, which the pool discards.
      if (!(connection as PooledConnection).__knex__disposed) {
        await this.answer(connection, this.knex.raw(this.#impl.endStatement).connection(connection)).catch(() => undefined);
      }
      await client.releaseConnection(connection);
    }
  }

  async inspectPrivileges(): Promise<PrivilegeReport> {
    const writePrivileges = await this.withReadSession((session) => this.#impl.inspectPrivileges((sql, bindings) => session.raw(sql, bindings)));
    return { writePrivileges };
  }

  compilePage(spec: ReadSpec, request: PageRequest): { sql: string; bindings: unknown[] } {
    const native = keysetQuery(this.knex, this.#impl, spec, request).toSQL().toNative();
    return { sql: native.sql, bindings: [...native.bindings] };
  }

  async closeIdle(): Promise<void> {
    await closeIdle(this.knex);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#release();
  }
}

/** One read-only transaction on one pooled connection. */
class SqlReadSession implements ReadSession {
  readonly #source: SqlSource;
  readonly #impl: SourceDialect;
  readonly #connection: unknown;
  readonly #clockUtc: string;
  readonly #commitHorizon: string | undefined;

  constructor(source: SqlSource, impl: SourceDialect, connection: unknown, clockUtc: string, commitHorizon: string | undefined) {
    this.#source = source;
    this.#impl = impl;
    this.#connection = connection;
    this.#clockUtc = clockUtc;
    this.#commitHorizon = commitHorizon;
  }

  async raw(sql: string, bindings: readonly unknown[] = []): Promise<SourceRow[]> {
    try {
      return this.#impl.rowsOf(await this.#answer(this.#source.knex.raw(sql, bindings as Knex.RawBinding[]).connection(this.#connection)));
    } catch (error) {
      throw this.#source.error(error, undefined, this.#connection);
    }
  }

  #answer<T>(work: PromiseLike<T>): Promise<T> {
    return this.#source.answer(this.#connection, work);
  }

  async clockUtc(): Promise<string> {
    return this.#clockUtc;
  }

  async committedCeiling(spec: ReadSpec): Promise<CursorValue | undefined> {
    if (!this.#impl.commitOrdered?.(spec)) return undefined;
    if (this.#commitHorizon === undefined || !/^\d+$/.test(this.#commitHorizon)) {
      throw new PermanentError('RP_CURSOR_UNSUPPORTED', `${spec.view}: the database gave no commit horizon for its ${spec.cursorType} cursor ${spec.cursor}.`);
    }
    return String(BigInt(this.#commitHorizon) - 1n);
  }

  async cursorStats(spec: ReadSpec): Promise<{ rows: number; max?: CursorValue }> {
    const [row] = await this.#count(spec, cursorStatsQuery(this.#source.knex, this.#impl, spec));
    const max = row?.hi;
    return { rows: Number(row?.n ?? 0), max: max === null || max === undefined ? undefined : canonicalCursor(spec.cursorKind, max, this.#impl.fractionDigits) };
  }

  async readPage(spec: ReadSpec, request: PageRequest): Promise<Page> {
    return this.#read(spec, keysetQuery(this.#source.knex, this.#impl, spec, request));
  }

  async readKeys(spec: ReadSpec, keys: readonly string[][]): Promise<Page> {
    if (keys.length === 0) return { rows: [], positions: [] };
    return this.#read(spec, keyLookupQuery(this.#source.knex, this.#impl, spec, keys));
  }

  async #read(spec: ReadSpec, query: Knex.QueryBuilder): Promise<Page> {
    try {
      return this.#page(spec, (await this.#answer(query.connection(this.#connection))) as SourceRow[]);
    } catch (error) {
      throw this.#source.error(error, spec.view, this.#connection);
    }
  }

  async countUnpositioned(spec: ReadSpec): Promise<Unpositioned> {
    const [row] = await this.#count(spec, unpositionedQuery(this.#source.knex, spec));
    return { nullCursor: Number(row?.null_cursor ?? 0), nullKey: Number(row?.null_key ?? 0) };
  }

  async countAfter(spec: ReadSpec, bound: CursorValue): Promise<number> {
    const [row] = await this.#count(spec, afterCursorQuery(this.#source.knex, this.#impl, spec, bound));
    return Number(row?.n ?? 0);
  }

  async #count(spec: ReadSpec, query: Knex.QueryBuilder): Promise<SourceRow[]> {
    try {
      return (await this.#answer(query.connection(this.#connection))) as SourceRow[];
    } catch (error) {
      throw this.#source.error(error, spec.view, this.#connection);
    }
  }

  async *scan(
    spec: ReadSpec,
    request: Omit<PageRequest, 'limit'>,
    options: { chunkSize: number; signal?: AbortSignal },
  ): AsyncIterable<Page> {
    const { chunkSize, signal } = options;
    const pages = (this.#impl.streamRows ? this.#streamed(spec, request, chunkSize) : this.#paged(spec, request, chunkSize))[Symbol.asyncIterator]();
    try {
      for (;;) {
        // Each chunk is a wait on the partner: bounded, as a statement is.
        const next = await this.#answer(pages.next());
        if (next.done || signal?.aborted) break;
        yield next.value;
      }
    } catch (error) {
      throw this.#source.error(error, spec.view, this.#connection);
    } finally {
      // Bounded too: a generator still waiting on a silent partner ends only when its wait does.
      await this.#answer<unknown>(pages.return?.() ?? Promise.resolve()).catch(() => undefined);
    }
    // Checked after the loop too: an abort during the last read must not look like the end.
    if (signal?.aborted) throw new PullerError('RP_RUN_CANCELLED', `Scan of ${spec.view} was cancelled.`, { cause: signal.reason });
  }

  /** One ordered query, streamed by the driver. */
  async *#streamed(spec: ReadSpec, request: Omit<PageRequest, 'limit'>, chunkSize: number): AsyncIterable<Page> {
    const { sql, bindings } = keysetQuery(this.#source.knex, this.#impl, spec, request).toSQL().toNative();
    for await (const rows of this.#impl.streamRows!(this.#connection, sql, bindings, chunkSize)) yield this.#page(spec, rows);
  }

  /** Consecutive keyset pages in this one transaction, for drivers that cannot stream with backpressure. */
  async *#paged(spec: ReadSpec, request: Omit<PageRequest, 'limit'>, chunkSize: number): AsyncIterable<Page> {
    let after = request.after;
    for (;;) {
      const page = await this.readPage(spec, { ...request, after, limit: chunkSize });
      if (page.rows.length > 0) yield page;
      if (page.rows.length < chunkSize) return;
      after = page.positions.at(-1);
    }
  }

  #page(spec: ReadSpec, raw: SourceRow[]): Page {
    const positions: Position[] = [];
    for (const row of raw) {
      const cursor = row[CURSOR_ALIAS];
      // The alias is the last column selected: deleting the last property keeps the row's
      // fast shape, where copying every row without it cost a new object per row.
      delete row[CURSOR_ALIAS];
      positions.push({
        cursor: canonicalCursor(spec.cursorKind, cursor, this.#impl.fractionDigits),
        key: spec.primaryKey.map((column) => keyText(row[column])),
      });
    }
    return { rows: raw, positions };
  }
}

/** The part of knex's pool (tarn) that ends idle connections now rather than after idleTimeoutMillis. */
interface IdlePool {
  free: { resource: unknown; settle(): void }[];
  _destroy(resource: unknown): Promise<unknown>;
}

/** Ends the pool's idle connections; those in use stay. */
export async function closeIdle(knex: Knex): Promise<void> {
  const pool = (knex.client as { pool?: IdlePool }).pool;
  if (!pool?.free) return;
  const idle = pool.free.splice(0);
  await Promise.all(idle.map((free) => {
    free.settle();
    return pool._destroy(free.resource);
  }));
}
