/** A real Reach sink whose posts a test steers (fails, delays), everything else passed through. */
import type { BatchSink, Posted, SinkPage } from '../../src/sinks/sink.ts';

export function withPost(real: BatchSink, post: (page: SinkPage, send: () => Promise<Posted>) => Promise<Posted>): BatchSink {
  return {
    kind: real.kind, target: real.target,
    processed: (posted, signal) => real.processed(posted, signal),
    drainUnfinished: (tenant, schema, window, signal) => real.drainUnfinished(tenant, schema, window, signal),
    close: () => real.close(),
    post: (page, beforeAttempt) => post(page, () => real.post(page, beforeAttempt)),
  };
}
