/** `pull`: one incremental run of each (or one) stream of a connector, in turn. */
import type { Logger } from '../log.ts';
import type { StateStore } from '../sinks/sink.ts';
import type { RegisteredConnector } from '../store/connector-registry.ts';
import { loadSchemaCatalog } from '../store/schema-registry.ts';
import { inSourceSlot } from '../store/source-slots.ts';
import { createSink, openConnectorSource, reachTarget, storeRuntime, type RuntimeEnv } from './connector-runtime.ts';
import { runStream, type RunSummary } from './run-stream.ts';
import { findStream } from './stream-plan.ts';

export interface PullOptions {
  store: StateStore;
  connector: RegisteredConnector;
  /** Only this stream; default every stream. */
  stream?: string;
  log: Logger;
  signal?: AbortSignal;
  runtime?: RuntimeEnv;
  /** The caller holds a slot of the source for this pull (the scheduler takes one per job); else the pull waits for one. */
  slotHeld?: boolean;
}

/** Pulls the connector's streams one after another; a failed stream does not stop the others. */
export async function pullConnector(options: PullOptions): Promise<RunSummary[]> {
  const { connector, store, log } = options;
  const streams = options.stream ? [findStream(connector, options.stream)] : connector.config.streams;
  const runtime = storeRuntime(store, options.runtime);
  // The target first: if it cannot be resolved, no source pool is left open.
  const target = await reachTarget(connector.config, runtime);
  const slot = { held: options.slotHeld, signal: options.signal, log };
  return inSourceSlot(store, connector, slot, async () => {
    const source = await openConnectorSource(connector.config, runtime);
    const sink = createSink(target, log);
    try {
      const schemas = await loadSchemaCatalog(store);
      const results: RunSummary[] = [];
      for (const stream of streams) {
        results.push(await runStream({ connector, stream, schemas, source, sink, store, log, signal: options.signal }));
      }
      return results;
    } finally {
      await sink.close();
      await source.close();
    }
  });
}
