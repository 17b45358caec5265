/** Opens what a one-off stream command (preview, retry-rejects, reconcile) needs: the source and the stream's plan. */
import type { RegisteredConnector } from '../store/connector-registry.ts';
import { loadSchemaCatalog } from '../store/schema-registry.ts';
import { inSourceSlot, type SlotOptions } from '../store/source-slots.ts';
import type { StateStore } from '../sinks/sink.ts';
import type { Source } from '../sources/source.ts';
import { openConnectorSource, storeRuntime, type RuntimeEnv } from './connector-runtime.ts';
import { findStream, planStream, type StreamPlan } from './stream-plan.ts';

/**
 * Plans one stream of a connector against its view and runs `fn`, in a slot of the source
 * (store/source-slots.ts: waited for unless `slot.held`); the source is closed afterwards.
 */
export async function withPlannedStream<T>(
  store: StateStore,
  connector: RegisteredConnector,
  streamName: string,
  runtime: RuntimeEnv | undefined,
  fn: (plan: StreamPlan, source: Source) => Promise<T>,
  slot: SlotOptions = {},
): Promise<T> {
  const stream = findStream(connector, streamName);
  return inSourceSlot(store, connector, slot, async () => {
    const source = await openConnectorSource(connector.config, storeRuntime(store, runtime));
    try {
      return await fn(await planStream(source, connector, stream, await loadSchemaCatalog(store)), source);
    } finally {
      await source.close();
    }
  });
}
