/**
 * `reconcile`: hard deletes. Compares the external ids the view holds now (within the
 * tenant filter) with those delivered and not deleted, and deletes the missing ones in
 * Reach. Refuses when more than a share of the delivered records would go (an emptied or
 * broken view must not wipe a tenant) unless the operator allows it.
 *
 * Each delete goes through the one delivery order (delivery-order.ts) with the version just
 * above the one last delivered for its record: the delete was seen after that read, so it
 * wins over every read at that version (a backfill page read before the row went and
 * delivered after the delete would otherwise bring the record back), and loses to any newer
 * change (the row came back with a newer cursor: it is delivered again). The price: a row
 * restored with its old cursor value (from a backup, say) stays deleted until it changes.
 */
import { PermanentError, RecordError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { StateStore } from '../sinks/sink.ts';
import type { RegisteredConnector } from '../store/connector-registry.ts';
import { loadWatermark, type StreamRef } from '../store/delivery-state.ts';
import { addPage, recordProgress, startRun, ZERO_COUNTS, type LiveRun, type RunCounts } from '../store/run-records.ts';
import { createSink, reachTarget, storeRuntime, type RuntimeEnv } from './connector-runtime.ts';
import { deliverJudged } from './page-delivery.ts';
import { deleteCandidate, type Candidate } from './page-judgement.ts';
import { withPlannedStream } from './planned-stream.ts';
import { adoptStreamIdentity } from './stream-identity.ts';
import { versionJustAfter } from './watermark.ts';
import { DEFAULT_MAX_DELETE_RATIO } from './mass-delete-guard.ts';
import { guardedId, unguardId } from '../store/external-id-text.ts';
// Reach takes at most 1000 resources per batch request.
const DELETE_PAGE = 1000;
const SCAN_CHUNK = 5000;

export interface ReconcileOptions {
  store: StateStore;
  connector: RegisteredConnector;
  stream: string;
  log: Logger;
  /** Refuse when more than this share of delivered records would be deleted (default 0.1). */
  maxDeleteRatio?: number;
  allowMassDelete?: boolean;
  /** Report what would be deleted; change nothing. */
  dryRun?: boolean;
  /**
   * Delete only these external ids (those a verify found extra, within its --from/--to), if the
   * view lacks them; default every delivered record the view lacks. The guard's share is still
   * of every delivered record.
   */
  among?: readonly string[];
  runtime?: RuntimeEnv;
  /** Stops the reconcile (and its wait for a slot of the source): verify --repair's own signal. */
  signal?: AbortSignal;
}

export interface ReconcileSummary {
  stream: string;
  runId?: string;
  /** Rows the view holds within the filter (with a cursor). */
  viewRows: number;
  /** Rows whose external id could not be mapped: they protect nothing. */
  unmappedRows: number;
  /** Rows the view holds with a NULL cursor: reconcile cannot see them, as a pull cannot. */
  nullCursorRows: number;
  /** Records delivered and not deleted before the reconcile. */
  delivered: number;
  /** External ids delivered but no longer in the view. */
  missing: string[];
  deleted: number;
  dryRun: boolean;
  /** More than the allowed share would be deleted (a run refuses; a dry run only reports it). */
  guardTripped?: boolean;
}

/** Deletes in Reach what the view no longer holds; see the module comment for the guard. */
export async function reconcileStream(options: ReconcileOptions): Promise<ReconcileSummary> {
  const { store, connector } = options;
  const ref: StreamRef = { connectorId: connector.id, stream: options.stream };
  const dryRun = options.dryRun ?? false;
  const watermark = await loadWatermark(store, ref);
  // Holding the stream like a pull: no pull can deliver a row between the scan and the deletes.
  const run: LiveRun | undefined = dryRun ? undefined : await startRun(store, ref, 'reconcile', watermark, { signal: options.signal });
  let counts: RunCounts = { ...ZERO_COUNTS };
  try {
    const summary = await withPlannedStream(store, connector, options.stream, options.runtime, async (plan, source) => {
      // Read before the scan: every id delivered by then must show up in the scan if its row exists.
      const rows = await store.selectFrom('delivered').select([guardedId().as('guarded_id'), 'version'])
        .where('connector_id', '=', ref.connectorId).where('stream', '=', ref.stream).where('deleted', '=', false).execute();
      const delivered = new Map(rows.map((r) => [unguardId(r.guarded_id), r.version]));
      const present = new Set<string>();
      let viewRows = 0;
      let unmappedRows = 0;
      const spec = { ...plan.spec, columns: [...new Set([...plan.stream.primary_key, ...plan.mapper.idColumns])] };
      const nullCursorRows = await source.withReadSession(async (session) => {
        for await (const page of session.scan(spec, {}, { chunkSize: SCAN_CHUNK })) {
          for (const row of page.rows) {
            viewRows++;
            try {
              present.add(plan.mapper.externalId(row));
            } catch (error) {
              if (!(error instanceof RecordError)) throw error;
              unmappedRows++;
            }
          }
        }
        return (await session.countUnpositioned(spec)).nullCursor;
      });
      const among = options.among === undefined ? undefined : new Set(options.among);
      const missing = [...delivered.keys()].filter((id) => !present.has(id) && (among === undefined || among.has(id))).sort();
      const result: ReconcileSummary = {
        stream: options.stream, runId: run?.id, viewRows, unmappedRows, nullCursorRows, delivered: delivered.size, missing, deleted: 0, dryRun,
      };
      const maxRatio = options.maxDeleteRatio ?? DEFAULT_MAX_DELETE_RATIO;
      result.guardTripped = missing.length > 0 && missing.length / delivered.size > maxRatio && !options.allowMassDelete;
      // A dry run shows what the guard would refuse, so the operator can judge the list.
      if (result.guardTripped && !dryRun) {
        throw new PermanentError('RP_MASS_DELETE',
          `stream ${connector.id}/${options.stream}: ${missing.length} of ${delivered.size} delivered records ` +
            `(${((missing.length / delivered.size) * 100).toFixed(1)} %) are not in ${plan.stream.view}, which holds ${viewRows} row(s); ` +
            `the limit is ${(maxRatio * 100).toFixed(1)} %. Nothing was deleted.`);
      }
      if (!run || missing.length === 0) return result;
      const sink = createSink(await reachTarget(connector.config, storeRuntime(store, options.runtime)), options.log);
      const ctx = { plan, store, sink, run, openRejections: { value: false } };
      try {
        await adoptStreamIdentity(store, ref, plan, sink, { holdsStream: true, log: options.log });
        for (let i = 0; i < missing.length; i += DELETE_PAGE) {
          const ids = missing.slice(i, i + DELETE_PAGE);
          const candidates = new Map<string, Candidate>(ids.map((id) => [id, deleteCandidate(id, versionJustAfter(delivered.get(id)!), { cursor: '', key: [] })]));
          const outcome = await deliverJudged(ctx, { read: 0, candidates, rejections: [] }, {
            beforeCommit: (trx, o) => recordProgress(trx, run.id, addPage(counts, o), watermark),
          });
          counts = addPage(counts, outcome);
        }
      } finally {
        await sink.close();
      }
      return { ...result, deleted: counts.rowsDeleted };
    }, { signal: run?.signal ?? options.signal, log: options.log });
    await run?.finish('succeeded', { ...counts, rowsRead: summary.viewRows });
    options.log.info({ connector: connector.id, ...summary, missing: summary.missing.length }, 'reconciled');
    return summary;
  } catch (error) {
    await run?.finish('failed', counts, error);
    throw error;
  }
}
