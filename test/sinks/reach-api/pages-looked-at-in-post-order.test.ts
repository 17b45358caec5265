/**
 * Pages in flight to Reach are looked at one after another (reach-api-sink.ts `processed`): a
 * page's batches are polled once the page posted before it to the same tenant and schema is
 * done or failed. Against the real local Reach API, with its own schedules of when each
 * batch is applied: in post order (a queue), out of order, and one that takes longer than the wait;
 * and (review) a sink shared by two runs, a long run's many waits on one signal.
 */
import { getEventListeners } from 'node:events';
import { afterEach, expect, it } from 'vitest';
import { startReachApiServer } from '../../../src/dev/reach-api-server.ts';
import type { ReachApiServer, ReachApiServerOptions } from '../../../src/dev/reach-api-server.ts';
import { ReachApiSink } from '../../../src/sinks/reach-api/reach-api-sink.ts';
import type { FailedRecord, SinkPage } from '../../../src/sinks/sink.ts';

const TOKEN = 'pages-in-order-token-5c1d';
const PAGES = 4;
const BATCHES_PER_PAGE = 5;
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

function sinkFor(server: ReachApiServer, batchWaitMs?: number): ReachApiSink {
  return new ReachApiSink({ client: { apiUrl: server.url, token: TOKEN, maxBatchSize: BATCH_SIZE, retry: { baseMs: 10, maxMs: 50 } }, batchWaitMs });
}

/** Page `p` of records `customer-p-i`, each with its page and index (`BATCHES_PER_PAGE` batches unless `records` says otherwise). */
function page(p: number, schema = 'customers', records = BATCHES_PER_PAGE * BATCH_SIZE): SinkPage {
  const upserts = Array.from({ length: records }, (_, i) => {
    const externalId = `customer-${p}-${i}`;
    return { externalId, version: String(p), json: JSON.stringify({ id: externalId, page: p, i }) };
  });
  return { tenant: 'salon-1', schema, writer: 'c/customers', upserts, deletes: [] };
}

/**
 * Posts the pages one after another (so Reach numbers their batches in page order), following
 * each from its post on as the engine does; per page: its batches, when its `processed` ended, how.
 */
async function postAll(sink: ReachApiSink, pages: SinkPage[]) {
  const started = Date.now();
  const followed: Promise<{ batchIds: string[]; failed?: FailedRecord[]; error?: Error; endedAt: number; endedMs: number }>[] = [];
  for (const p of pages) {
    const posted = await sink.post(p, () => undefined);
    followed.push(sink.processed(posted).then((failed) => ({ failed }), (error: Error) => ({ error }))
      .then((outcome) => ({ ...outcome, batchIds: posted.upsertBatchIds, endedAt: Date.now(), endedMs: Date.now() - started })));
  }
  return Promise.all(followed);
}

it('Reach working through a queue of four pages: a page is not looked at before the page ahead of it is confirmed, and each lands whole', async () => {
  // The n-th accepted batch is applied 40 ms after the one before it, as a queue would.
  const server = await reach({ applyDelayOf: (n) => 40 * n });
  const outcomes = await postAll(sinkFor(server), Array.from({ length: PAGES }, (_, p) => page(p)));

  for (const [p, outcome] of outcomes.entries()) {
    expect(outcome).toMatchObject({ failed: [] });
    expect(outcome.batchIds).toHaveLength(BATCHES_PER_PAGE);
    if (p === 0) continue;
    // Status requests for this page's batches, answered before the page ahead was confirmed: none.
    const early = server.requests.filter((r) => r.method === 'GET' && outcome.batchIds.some((id) => r.path.endsWith(id)) && r.at < outcomes[p - 1]!.endedAt);
    expect(early).toEqual([]);
  }
  const stored = server.resources('salon-1', 'customers');
  expect(stored.size).toBe(PAGES * BATCHES_PER_PAGE * BATCH_SIZE);
  expect(stored.get('customer-3-49')).toEqual({ id: 'customer-3-49', page: 3, i: 49 });
});

it('a page Reach applies before the page posted ahead of it is confirmed after that one, with its own outcome', async () => {
  // Page 0's batches (accepted first) are applied last, after 600 ms; page 1's at once.
  const server = await reach({ applyDelayOf: (n) => (n <= BATCHES_PER_PAGE ? 600 : 1) });
  const sink = sinkFor(server);
  const first = await sink.post(page(0), () => undefined);
  const second = await sink.post(page(1), () => undefined);
  const order: string[] = [];
  const [a, b] = await Promise.all([
    sink.processed(first).then((failed) => (order.push('page 0'), failed)),
    sink.processed(second).then((failed) => (order.push('page 1'), failed)),
  ]);
  expect([a, b]).toEqual([[], []]);
  expect(order).toEqual(['page 0', 'page 1']);
  expect(server.resources('salon-1', 'customers').size).toBe(2 * BATCHES_PER_PAGE * BATCH_SIZE);
});

it('pages of another schema are not held behind a slow one', async () => {
  // The customers page is applied after 1.5 s; the transactions page at once.
  const server = await reach({ applyDelayOf: (n) => (n <= BATCHES_PER_PAGE ? 1500 : 1) });
  const outcomes = await postAll(sinkFor(server), [page(0, 'customers'), page(1, 'transactions')]);
  expect(outcomes[1]).toMatchObject({ failed: [] });
  expect(outcomes[1]!.endedMs).toBeLessThan(1000);
  expect(outcomes[0]).toMatchObject({ failed: [] });
});

it('a page whose wait ran out does not fail the page behind it, which Reach had applied', async () => {
  // Page 0 takes 3 s, more than the 400 ms the sink waits; page 1 is applied at once.
  const server = await reach({ applyDelayOf: (n) => (n <= BATCHES_PER_PAGE ? 3000 : 1) });
  const [slow, behind] = await postAll(sinkFor(server, 400), [page(0), page(1)]);
  expect((slow as { error?: { code?: string } }).error?.code).toBe('RP_SINK_UNCONFIRMED');
  expect(behind).toMatchObject({ failed: [] });
});

it('a run stopped while its page waits behind its page ahead stops both waits at once', async () => {
  const server = await reach({ applyDelayOf: (n) => (n <= BATCHES_PER_PAGE ? 3000 : 1) });
  const sink = sinkFor(server);
  const first = await sink.post(page(0), () => undefined);
  const second = await sink.post(page(1), () => undefined);
  const run = new AbortController();
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  const ahead = sink.processed(first, run.signal).catch((error: Error) => error);
  const behind = sink.processed(second, run.signal).catch((error: Error) => error);
  setTimeout(() => run.abort(new Error('run stopped')), 200);
  const started = Date.now();
  const [aheadError, behindError] = await Promise.all([ahead, behind]);
  expect(Date.now() - started).toBeLessThan(1500);
  await new Promise((r) => setTimeout(r, 100));
  process.off('unhandledRejection', onUnhandled);
  expect(unhandled).toEqual([]);
  expect(aheadError).toBeInstanceOf(Error);
  expect(behindError).toBeInstanceOf(Error);
  expect((behindError as Error).message).toMatch(/waiting for Reach to process a page|waiting for batch/);
});

it('pages of two runs into one schema (two streams, or two backfill chunks) do not wait on each other', async () => {
  // Run A's page is applied after 3 s; run B's page, posted after it, at once.
  const server = await reach({ applyDelayOf: (n) => (n <= BATCHES_PER_PAGE ? 3000 : 1) });
  const sink = sinkFor(server);
  const runA = new AbortController();
  const runB = new AbortController();
  const started = Date.now();
  const ahead = sink.processed(await sink.post(page(0), () => undefined), runA.signal);
  await expect(sink.processed(await sink.post(page(1), () => undefined), runB.signal)).resolves.toEqual([]);
  expect(Date.now() - started).toBeLessThan(1500);
  await expect(ahead).resolves.toEqual([]);
});

it('a run stopped while its page is ahead: the other run\'s page, posted after it, is confirmed at once', async () => {
  // Run A's page (batches 1-2) is applied after 5 s; run B's page at once.
  const server = await reach({ applyDelayOf: (n) => (n <= BATCHES_PER_PAGE ? 5000 : 1) });
  const sink = sinkFor(server);
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

it('a long run\'s signal keeps no abort listener of the waits it made', async () => {
  const server = await reach({ applyDelayOf: (n) => (n % 7 === 0 ? 120 : 5) });
  const sink = sinkFor(server);
  const run = new AbortController();
  // Four pages in flight at a time, 60 pages, as the engine keeps them.
  const inFlight: Promise<unknown>[] = [];
  for (let p = 0; p < 60; p++) {
    const posted = await sink.post(page(p, 'customers', BATCH_SIZE), () => undefined);
    inFlight.push(sink.processed(posted, run.signal));
    if (inFlight.length === 4) await expect(inFlight.shift()).resolves.toEqual([]);
  }
  await expect(Promise.all(inFlight)).resolves.toEqual([[], [], []]);
  expect(getEventListeners(run.signal, 'abort')).toHaveLength(0);
  expect(server.resources('salon-1', 'customers').size).toBe(60 * BATCH_SIZE);
});
