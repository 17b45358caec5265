/**
 * The connection test (`test`, the console): connect, plan every stream against its view
 * (columns, cursor), count the rows a pull could not read, map a sample, and list the
 * credential's write privileges. Read-only, like every partner session.
 */
import { describeError } from '../store/run-records.ts';
import type { RegisteredConnector } from '../store/connector-registry.ts';
import { loadSchemaCatalog } from '../store/schema-registry.ts';
import type { StateStore } from '../sinks/sink.ts';
import { unreadHints, type UnreadCounts } from '../cli/unread-rows.ts';
import { openConnectorSource, storeRuntime } from './connector-runtime.ts';
import { planStream } from './stream-plan.ts';
import { futureBound } from './watermark.ts';

export interface StreamCheck {
  stream: string;
  view: string;
  ok: boolean;
  cursorKind?: string;
  /** Rows a pull would count and not read (futureCursor absent for integer cursors). */
  unread?: UnreadCounts;
  /** What the non-zero counts mean; a warning, the check still passes. */
  warnings?: string[];
  sample?: unknown[];
  error?: string;
}

export interface ConnectorCheck {
  connector: string;
  source: string;
  writePrivileges: string[];
  streams: StreamCheck[];
}

/** Runs the checks; a stream that fails is reported, the others still run. Connecting failing throws. */
export async function checkConnector(store: StateStore, connector: RegisteredConnector, sample: number): Promise<ConnectorCheck> {
  const source = await openConnectorSource(connector.config, storeRuntime(store));
  try {
    const schemas = await loadSchemaCatalog(store);
    const privileges = await source.inspectPrivileges();
    const streams: StreamCheck[] = [];
    for (const stream of connector.config.streams) {
      try {
        const plan = await planStream(source, connector, stream, schemas);
        // Counted as a pull counts them, in the sample's read-only transaction and against its partner clock.
        const { page, unread } = await source.withReadSession(async (s) => {
          const { nullCursor, nullKey } = await s.countUnpositioned(plan.spec);
          const bound = futureBound(plan.cursorKind, await s.clockUtc(), plan.settleSeconds, plan.timezone);
          const futureCursor = bound === undefined ? undefined : await s.countAfter(plan.spec, bound);
          const unread: UnreadCounts = { nullCursor, nullKey, ...(futureCursor === undefined ? {} : { futureCursor }) };
          return { page: await s.readPage(plan.spec, { limit: sample }), unread };
        });
        const rows = page.rows.map((row) => {
          try {
            return plan.mapper.mapRow(row).record;
          } catch (error) {
            return { error: describeError(error) };
          }
        });
        streams.push({ stream: stream.name, view: stream.view, ok: true, cursorKind: plan.cursorKind, unread, warnings: unreadHints(unread), sample: rows });
      } catch (error) {
        streams.push({ stream: stream.name, view: stream.view, ok: false, error: describeError(error) });
      }
    }
    return { connector: connector.id, source: connector.sourceId, writePrivileges: privileges.writePrivileges, streams };
  } finally {
    await source.close();
  }
}
