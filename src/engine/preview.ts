/**
 * `preview`: what a pull would make of a stream's rows, without sending anything, moving a
 * watermark or touching the quarantine. Ops run it with the partner before enabling a connector.
 */
import type { Logger } from '../log.ts';
import type { Position, ResourceRecord } from '../interfaces.ts';
import type { StateStore } from '../sinks/sink.ts';
import type { RegisteredConnector } from '../store/connector-registry.ts';
import { loadDelivered, loadWatermark } from '../store/delivery-state.ts';
import type { RuntimeEnv } from './connector-runtime.ts';
import { judgeRow } from './page-judgement.ts';
import { withPlannedStream } from './planned-stream.ts';
import { readCeiling } from './stream-plan.ts';

/** One previewed row. */
export interface PreviewRow {
  position: Position;
  externalId: string | null;
  /** What a pull would do with it. */
  action: 'upsert' | 'delete' | 'rejected';
  /** Compared with what was last delivered for the external id. */
  change?: 'new' | 'changed' | 'unchanged';
  record?: ResourceRecord;
  fields?: string[];
  reason?: string;
}

export interface PreviewOptions {
  store: StateStore;
  connector: RegisteredConnector;
  stream: string;
  limit: number;
  /** Read what the next pull would: after the watermark, up to the settle ceiling. Default: the first rows. */
  next?: boolean;
  runtime?: RuntimeEnv;
  /** Told when the preview waits for a free slot of the source. */
  log?: Logger;
  /** Stops the wait for a slot of the source. */
  signal?: AbortSignal;
}

/** Reads up to `limit` rows and maps, validates and compares each one. */
export async function previewStream(options: PreviewOptions): Promise<{ watermark?: Position; rows: PreviewRow[] }> {
  const { store, connector } = options;
  const ref = { connectorId: connector.id, stream: options.stream };
  const watermark = await loadWatermark(store, ref);
  return withPlannedStream(store, connector, options.stream, options.runtime, async (plan, source) => {
    const page = await source.withReadSession(async (session) => {
      const upTo = options.next ? await readCeiling(plan, session) : undefined;
      return session.readPage(plan.spec, { after: options.next ? watermark : undefined, upTo, limit: options.limit });
    });
    const verdicts = page.rows.map((row, i) => ({ position: page.positions[i]!, verdict: judgeRow(plan, row, page.positions[i]!) }));
    const ids = verdicts.flatMap(({ verdict }) => ('candidate' in verdict ? [verdict.candidate.externalId] : []));
    const known = await loadDelivered(store, ref, ids);
    const rows = verdicts.map(({ position, verdict }): PreviewRow => {
      if (!('candidate' in verdict)) {
        return { position, externalId: verdict.externalId, action: 'rejected', fields: verdict.error.fields, reason: verdict.error.message };
      }
      const { externalId, entry, upsert } = verdict.candidate;
      const last = known.get(externalId);
      const change = !last ? 'new' : last.contentHash === entry.contentHash && last.deleted === entry.deleted ? 'unchanged' : 'changed';
      return { position, externalId, action: upsert ? 'upsert' : 'delete', change, record: upsert && (JSON.parse(upsert.json) as ResourceRecord) };
    });
    return { watermark, rows };
  }, { log: options.log, signal: options.signal });
}
