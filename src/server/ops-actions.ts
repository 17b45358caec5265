/**
 * What an operator can do to a running `serve`, once: the ops API's routes and the console's
 * forms both call these, so the two never drift apart (validation, the scheduler refresh after
 * a change, the stream hold of a reset...).
 */
import type { Kysely } from 'kysely';
import type { BackgroundBackfills } from '../backfill/background-backfills.ts';
import { backfillProgress, type BackfillProgress } from '../backfill/backfill-progress.ts';
import { loadBackfill } from '../backfill/backfill-store.ts';
import { clockDigits, parseBound } from '../backfill/chunk-plan.ts';
import { cancelBackfill, pickStream, type BackfillRequest } from '../backfill/run-backfill.ts';
import { applyConnectors } from '../config/apply-connectors.ts';
import { lineLocator, parseConnector, type LoadedConnector } from '../config/load-connectors.ts';
import { sourceIdentity } from '../config/source-identity.ts';
import { checkConnector, type ConnectorCheck } from '../engine/connector-check.ts';
import { withPlannedStream } from '../engine/planned-stream.ts';
import { previewStream, type PreviewRow } from '../engine/preview.ts';
import { resetStream, type ResetRequest } from '../engine/reset-stream.ts';
import { retryRejects, type RetrySummary } from '../engine/retry-rejects.ts';
import { findStream } from '../engine/stream-plan.ts';
import { ConfigError, PullerError } from '../errors.ts';
import type { Position } from '../interfaces.ts';
import type { Logger } from '../log.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import { unparkStreams } from '../scheduler/stream-parking.ts';
import { getConnector, type ApplyResult, type RegisteredConnector } from '../store/connector-registry.ts';
import { holdsOf } from '../store/holds.ts';
import type { StreamRef } from '../store/delivery-state.ts';
import type { StoreSchema } from '../store/schema.ts';

export interface OpsActionsDeps {
  db: Kysely<StoreSchema>;
  scheduler: Scheduler;
  backfills: BackgroundBackfills;
  log: Logger;
  /** Aborted when the API closes: an action waiting for a slot of its source stops (serve's shutdown). */
  signal?: AbortSignal;
}

export class OpsActions {
  constructor(private readonly deps: OpsActionsDeps) {}

  /**
   * Validates connector YAML (or JSON) exactly as `apply` does and, unless `dryRun`, registers
   * it. Every problem carries its line in `text`. Throws one ConfigError with all of them.
   */
  async register(id: string, text: string, options: { dryRun?: boolean } = {}): Promise<{ connector: LoadedConnector; result?: ApplyResult; warnings: string[] }> {
    const { connector, problems } = parseConnector(`${id}.yaml`, text);
    if (!connector) throw new ConfigError(problems);
    if (connector.id !== id) throw new ConfigError([{ path: 'id', line: lineLocator(text)('id'), message: `"${connector.id}" differs from the id in the URL ("${id}")` }]);
    try {
      const { result, warnings } = await applyConnectors(this.deps.db, [connector], { dryRun: options.dryRun });
      for (const warning of warnings) this.deps.log.warn({ connector: id }, warning);
      if (result) await this.deps.scheduler.refresh();
      return { connector, result, warnings };
    } catch (error) {
      // `apply` finds lines in the file on disk; a body has none, so they are found in the text.
      if (!(error instanceof ConfigError)) throw error;
      const locate = lineLocator(text);
      throw new ConfigError(error.problems.map((p) => ({ ...p, line: p.line ?? locate(p.path) })), error.code);
    }
  }

  /** Starts a pull of every stream of a connector, or of one, now. */
  async pull(id: string, stream?: string): Promise<ReturnType<Scheduler['trigger']>> {
    await this.deps.scheduler.refresh();
    return this.deps.scheduler.trigger(id, stream);
  }

  /** Lets one parked stream (or every parked stream of the connector) run again. */
  unpark(id: string, stream?: string): Promise<string[]> {
    return unparkStreams(this.deps.db, id, stream);
  }

  /**
   * Plans and starts a backfill in this process; answers its first progress. Refused
   * (RP_BACKFILL_BUSY) while the stream has one being planned or running: a double-submit, or
   * a second replica asked the same, would read the same range twice at once.
   */
  async startBackfill(request: BackfillRequest): Promise<BackfillProgress> {
    const { db } = this.deps;
    const stream = pickStream(await getConnector(db, request.connector), request.stream).name;
    const where = `${request.connector}/${stream}`;
    // Held while planning: the new backfill is `running` in the store only once planned.
    const hold = await holdsOf(db).tryTake(`backfill start ${where}`);
    if (!hold) throw new PullerError('RP_BACKFILL_BUSY', `a backfill of ${where} is being started already; see the stream's backfills`);
    try {
      const running = await db.selectFrom('backfills').select('id').where('connector_id', '=', request.connector).where('stream', '=', stream)
        .where('status', '=', 'running').executeTakeFirst();
      if (running) throw new PullerError('RP_BACKFILL_BUSY', `backfill ${running.id} of ${where} is running (or interrupted); wait for it to end, or cancel it, before starting another`);
      return await backfillProgress(db, await this.deps.backfills.start({ ...request, stream }));
    } finally {
      await hold.release();
    }
  }

  /** Continues a backfill from its checkpoints in this process; `of`: only if it is that stream's. */
  async resumeBackfill(id: string, of?: StreamRef): Promise<BackfillProgress> {
    await this.#backfillOf(id, of);
    return backfillProgress(this.deps.db, await this.deps.backfills.resume(id));
  }

  /** Asks a backfill to stop after its current page; `of`: only if it is that stream's. */
  async cancelBackfill(id: string, of?: StreamRef): Promise<BackfillProgress> {
    await this.#backfillOf(id, of);
    return cancelBackfill(this.deps.db, id);
  }

  // A page's action names the stream in its URL: a backfill of another stream is not found there.
  async #backfillOf(id: string, of: StreamRef | undefined): Promise<void> {
    if (!of) return;
    const b = await loadBackfill(this.deps.db, id);
    if (b.connectorId !== of.connectorId || b.stream !== of.stream) {
      throw new PullerError('RP_NOT_FOUND', `there is no backfill ${id} of ${of.connectorId}/${of.stream}`);
    }
  }

  /** Re-reads a stream's quarantined rows by key and delivers those that now pass. */
  async retryRejects(id: string, stream: string): Promise<RetrySummary[]> {
    const connector = await getConnector(this.deps.db, id);
    findStream(connector, stream);
    return retryRejects({ store: this.deps.db, connector, stream, log: this.deps.log, signal: this.deps.signal });
  }

  /** Resets a stream (engine/reset-stream.ts); refused while it runs. */
  async reset(ref: StreamRef, request: ResetRequest): Promise<{ before?: Position; after?: Position }> {
    findStream(await getConnector(this.deps.db, ref.connectorId), ref.stream);
    return resetStream(this.deps.db, ref, request, this.deps.log);
  }

  /**
   * A position an operator typed for a reset (no cursor: the beginning), its cursor checked
   * against the stream's cursor kind as a backfill's bounds are, and made canonical: a typo
   * is refused (RP_CONFIG_INVALID) instead of parking the stream at its next pull.
   */
  async resetPosition(ref: StreamRef, cursor: string | undefined, key: string[]): Promise<Position | undefined> {
    if (cursor === undefined) return undefined;
    const connector = await getConnector(this.deps.db, ref.connectorId);
    return withPlannedStream(this.deps.db, connector, ref.stream, undefined, async (plan, source) => ({
      cursor: parseBound(plan.cursorKind, 'cursor', cursor, clockDigits(await source.withReadSession((s) => s.clockUtc()))),
      key,
    }), { signal: this.deps.signal, log: this.deps.log });
  }

  /** The connection test of a connector, registered or only validated. */
  check(connector: RegisteredConnector, sample = 3): Promise<ConnectorCheck> {
    return checkConnector(this.deps.db, connector, sample);
  }

  /** What a pull would make of a stream's first rows; nothing is sent or stored. */
  preview(connector: RegisteredConnector, stream: string, limit = 5): Promise<{ watermark?: Position; rows: PreviewRow[] }> {
    return previewStream({ store: this.deps.db, connector, stream, limit, log: this.deps.log, signal: this.deps.signal });
  }
}

/** A validated, not yet registered connector as the engine's one-off commands take it (test, preview). */
export function asUnregistered(c: LoadedConnector): RegisteredConnector {
  return { id: c.id, tenant: c.config.tenant, sourceId: sourceIdentity(c.config.source), file: c.file, enabled: false, config: c.config, hash: c.hash, updatedAt: new Date() };
}
