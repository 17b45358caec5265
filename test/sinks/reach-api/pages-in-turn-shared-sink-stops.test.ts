/**
 * Review of "pages looked at in turn" (reach-api-sink.ts `processed`), against the real local
 * Reach API: a sink shared by two runs where the run whose page is ahead is stopped, and a
 * long run whose one signal is handed to many waits (no abort listener left behind).
 */
import { getEventListeners } from 'node:events';
import { afterEach, expect, it } from 'vitest';
import { startReachApiServer } from '../../../src/dev/reach-api-server.ts';
import type { ReachApiServer, ReachApiServerOptions } from '../../../src/dev/reach-api-server.ts';
import { ReachApiSink } from '../../../src/sinks/reach-api/reach-api-sink.ts';
import type { SinkPage } from '../../../src/sinks/sink.ts';

const TOKEN = 'pages-in-turn-review-token-81e2';
const BATCH_SIZE = 10;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function reach(options: Partial<ReachApiServerOptions>): Promise<ReachApiServer> {
  const server = await startReachApiServer({ token: TOKEN, ...options });
  closers.push(() => server.close());
  return server;
}

function page(p: number, records = 2 * BATCH_SIZE): SinkPage {
  const upserts = Array.from({ length: records }, (_, i) => {
    const externalId = `customer-${p}-${i}`;
    return { externalId, version: String(p), json: JSON.stringify({ id: externalId, page: p, i }) };
  });
  return { tenant: 'salon-1', schema: 'customers', writer: `c/s${p % 2}`, upserts, deletes: [] };
}

it('a run stopped while its page is ahead: the other run\'s page, posted after it, is confirmed at once', async () => {
  // Run A's page (batches 1-2) is applied after 5 s; run B's page at once.
  const server = await reach({ applyDelayOf: (n) => (n <= 2 ? 5000 : 1) });
  const sink = new ReachApiSink({ client: { apiUrl: server.url, token: TOKEN, maxBatchSize: BATCH_SIZE, retry: { baseMs: 10, maxMs: 50 } } });
  const runA = new AbortController();
  const runB = new AbortController();
  const ahead = sink.processed(await sink.post(page(0), () => undefined), runA.signal).catch((error: Error) => error);
  const behind = sink.processed(await sink.post(page(1), () => undefined), runB.signal);
  await new Promise((r) => setTimeout(r, 300));
  const stoppedAt = Date.now();
  runA.abort(new Error('run A stopped'));
  expect(await ahead).toBeInstanceOf(Error);
  await expect(behind).resolves.toEqual([]);
  expect(Date.now() - stoppedAt).toBeLessThan(1000);
  expect(server.resources('salon-1', 'customers').get('customer-1-19')).toEqual({ id: 'customer-1-19', page: 1, i: 19 });
});

it('a long run\'s signal keeps no abort listener of the waits it made, and nothing is left rejected unhandled', async () => {
  const server = await reach({ applyDelayOf: (n) => (n % 7 === 0 ? 120 : 5) });
  const sink = new ReachApiSink({ client: { apiUrl: server.url, token: TOKEN, maxBatchSize: BATCH_SIZE, retry: { baseMs: 10, maxMs: 50 } } });
  const run = new AbortController();
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    // Four pages in flight at a time, 60 pages, as the engine keeps them.
    const inFlight: Promise<unknown>[] = [];
    for (let p = 0; p < 60; p++) {
      const posted = await sink.post(page(p, BATCH_SIZE), () => undefined);
      inFlight.push(sink.processed(posted, run.signal));
      if (inFlight.length === 4) await expect(inFlight.shift()).resolves.toEqual([]);
    }
    await expect(Promise.all(inFlight)).resolves.toEqual([[], [], []]);
    expect(getEventListeners(run.signal, 'abort')).toHaveLength(0);
    // A second run stopped while three of its pages wait in line: each rejects, none unhandled.
    const slow = await reach({ applyDelayOf: () => 2000 });
    const slowSink = new ReachApiSink({ client: { apiUrl: slow.url, token: TOKEN, maxBatchSize: BATCH_SIZE, retry: { baseMs: 10, maxMs: 50 } } });
    const stopped = new AbortController();
    const waits = [];
    for (let p = 0; p < 3; p++) waits.push(slowSink.processed(await slowSink.post(page(p, BATCH_SIZE), () => undefined), stopped.signal));
    stopped.abort(new Error('stopped'));
    const outcomes = await Promise.allSettled(waits);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
    await new Promise((r) => setTimeout(r, 100));
    expect(unhandled).toEqual([]);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  expect(server.resources('salon-1', 'customers').size).toBe(60 * BATCH_SIZE);
});
