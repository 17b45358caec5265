/**
 * Review 8a: attacks on `processed` following a page's batches in turn (356b088; since its
 * finding here, the first batch alone, then the others together), against the real local
 * Reach API (and, where a fault must hit one batch only, a real HTTP gateway in front of it).
 */
import http from 'node:http';
import type net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { startReachApiServer } from '../../../src/dev/reach-api-server.ts';
import type { ReachApiServer, ReachApiServerOptions } from '../../../src/dev/reach-api-server.ts';
import { ReachApiSink } from '../../../src/sinks/reach-api/reach-api-sink.ts';
import type { Posted, SinkPage, Upsert } from '../../../src/sinks/sink.ts';

const TOKEN = 'review-8a-token-31f0';
const mayPost = () => undefined;
// Reach fails a record with a field its schema does not declare (named), or with no id (unnamed).
const SCHEMAS = {
  customers: { externalIdField: 'id', jsonSchema: { type: 'object', properties: { id: {}, email: {}, n: {} } } },
};

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function reach(options: Partial<ReachApiServerOptions> = {}): Promise<ReachApiServer> {
  const server = await startReachApiServer({ token: TOKEN, schemas: SCHEMAS, seed: 8, ...options });
  closers.push(() => server.close());
  return server;
}

/** A gateway forwarding to `target`; `intercept` may answer a request itself (status, body) or delay it. */
async function gateway(target: string, intercept: (method: string, url: string) => Promise<{ status: number; body: unknown } | undefined> | undefined) {
  const gets: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      if (req.method === 'GET') gets.push(req.url!);
      const own = await intercept(req.method!, req.url!);
      if (own) {
        if (!res.destroyed) res.writeHead(own.status, { 'content-type': 'application/json' }).end(JSON.stringify(own.body));
        return;
      }
      const body = Buffer.concat(chunks);
      const headers = { ...req.headers } as Record<string, string>;
      delete headers['content-length'];
      try {
        const r = await fetch(`${target}${req.url}`, { method: req.method, headers, body: req.method === 'GET' ? undefined : body });
        const text = await r.text();
        if (!res.destroyed) res.writeHead(r.status, { 'content-type': 'application/json' }).end(text);
      } catch {
        res.destroy();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  closers.push(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, gets };
}

function sink(url: string, batchWaitMs = 30_000) {
  return new ReachApiSink({ client: { apiUrl: url, token: TOKEN, retry: { baseMs: 5, maxMs: 50, deadlineMs: 20_000 } }, batchWaitMs });
}

function upsert(externalId: string, record: Record<string, unknown>): Upsert {
  return { externalId, json: JSON.stringify(record), version: '00000001' };
}

/** `n` upserts c0..c(n-1); `named` get an undeclared field, `unnamed` lose their id. */
function page(tenant: string, n: number, named: number[] = [], unnamed: number[] = [], deletes: string[] = []): SinkPage {
  const upserts = Array.from({ length: n }, (_, i) => {
    if (named.includes(i)) return upsert(`c${i}`, { id: `c${i}`, email: `c${i}@x.io`, bogus: 1 });
    if (unnamed.includes(i)) return upsert(`c${i}`, { email: `c${i}@x.io` });
    return upsert(`c${i}`, { id: `c${i}`, email: `c${i}@x.io`, n: i });
  });
  return { tenant, schema: 'customers', writer: 'test/stream', upserts, deletes: deletes.map((externalId) => ({ externalId, version: '00000001' })) as SinkPage['deletes'] };
}

const statusGets = (s: ReachApiServer) => s.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/api/batches/')).length;

describe('review 8a: following a page\'s batches one after the other', () => {
  it('out of order: the first batch applied last, failures in the first and last upsert batch and a delete batch all come back', async () => {
    // Batch 1 applied after 1.2 s, every other batch at once: Reach's order is not the order followed.
    const s = await reach({ applyDelayOf: (n) => (n === 1 ? 1_200 : 0) });
    const p = page('t-ooo', 5000, [4990], [3]);
    p.deletes.push({ externalId: 'never-there', version: '1' } as SinkPage['deletes'][number]);
    const k = sink(s.url);
    const posted = await k.post(p, mayPost);
    expect(posted.upsertBatchIds).toHaveLength(5);
    expect(posted.deleteBatchIds).toHaveLength(1);
    const failed = await k.processed(posted);
    // Only batch 1 is awaited (its failure is known once Reach applied it); the rest are done when looked at: one look each.
    expect(failed).toEqual([
      { message: expect.stringContaining(`1 record(s) of batch ${posted.upsertBatchIds[0]} without naming them`) },
      { externalId: 'c4990', message: expect.stringContaining('bogus') },
    ]);
    expect(statusGets(s)).toBeLessThanOrEqual(30);
  });

  it('a batch Reach forgot (404) in the middle hides neither its own unknown outcome nor a later batch\'s named failure', async () => {
    const s = await reach();
    let forgotten = '';
    const gw = await gateway(s.url, (method, url) => (method === 'GET' && forgotten && url.endsWith(forgotten) ? Promise.resolve({ status: 404, body: { success: false, message: 'not found' } }) : undefined));
    const p = page('t-404', 3000, [10, 2500]);
    const k = sink(gw.url);
    const posted = await k.post(p, mayPost);
    await s.settled();
    forgotten = posted.upsertBatchIds[1]!;
    // Batch ids come in input order: c10 in the first, c2500 in the third; the second is forgotten.
    const failed = await k.processed(posted);
    expect(failed).toEqual([
      { externalId: 'c10', message: expect.stringContaining('bogus') },
      { message: expect.stringContaining(`no longer knows batch ${forgotten}`) },
      { externalId: 'c2500', message: expect.stringContaining('bogus') },
    ]);
  });

  it('the deadline bounds the whole wait: a later batch Reach never processes fails the page with RP_SINK_UNCONFIRMED at about the deadline, not per batch', async () => {
    // Batch 1 done at 600 ms, batches 2-5 not for a minute.
    const s = await reach({ applyDelayOf: (n) => (n === 1 ? 600 : 60_000) });
    const k = sink(s.url, 1_500);
    const posted = await k.post(page('t-deadline', 5000), mayPost);
    const started = Date.now();
    const error = await k.processed(posted).catch((e: unknown) => e);
    const took = Date.now() - started;
    expect(error).toMatchObject({ code: 'RP_SINK_UNCONFIRMED' });
    expect(took).toBeLessThanOrEqual(3_000);
    // At most a quarter early.
    expect(took).toBeGreaterThanOrEqual(1_000);
  });

  it('slow status answers: a page of done batches costs two answers\' delay, not one per batch', async () => {
    const s = await reach();
    const k = sink(s.url, 1_000);
    const posted = await k.post(page('t-slowget', 5000), mayPost);
    await s.settled();
    s.setFaults({ rateSlow: 1, slowMs: 150 });
    const started = Date.now();
    expect(await k.processed(posted)).toEqual([]);
    const took = Date.now() - started;
    // The first batch alone, then the other four together: about two answers' delay, never
    // one per batch (looked at one after another, the review's first finding: 5 x 150 ms).
    expect(took).toBeLessThan(5 * 150 - 50);
  });

  it('abort while following a later batch: rejects at once as stopped, never as processed', async () => {
    const s = await reach({ applyDelayOf: (n) => (n === 1 ? 200 : 30_000) });
    const k = sink(s.url);
    const posted = await k.post(page('t-abort', 3000), mayPost);
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('run stopped')), 700);
    const started = Date.now();
    const error = await k.processed(posted, controller.signal).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as { code?: string }).code).not.toBe('RP_SINK_UNCONFIRMED');
    expect(String((error as Error).message)).toMatch(/stop|waiting for batch/i);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('a status error while following batch 1 throws (nothing resolved), and a later follow of the same page reports batch 3\'s failure', async () => {
    const s = await reach();
    let refuse = '';
    const gw = await gateway(s.url, (method, url) => (method === 'GET' && refuse && url.endsWith(refuse) ? Promise.resolve({ status: 401, body: { success: false, message: 'Token expired' } }) : undefined));
    const k = sink(gw.url);
    const p = page('t-midfollow', 3000, [2999]);
    const posted = await k.post(p, mayPost);
    await s.settled();
    refuse = posted.upsertBatchIds[0]!;
    await expect(k.processed(posted)).rejects.toThrow();
    // Nothing after batch 1 was looked at: the caller must not have anything to settle from.
    const looked = gw.gets.filter((u) => u.startsWith('/api/batches/'));
    expect(looked.every((u) => u.endsWith(refuse))).toBe(true);
    refuse = '';
    const failed = await k.processed(posted);
    expect(failed).toEqual([{ externalId: 'c2999', message: expect.stringContaining('bogus') }]);
  });

  it('drainUnfinished over 150 batches on two list pages, applied newest first, finishes with about one look per batch', async () => {
    // 150 one-record batches; the n-th is applied after (150 - n) * 8 ms: Reach works backwards.
    const s = await reach({ applyDelayOf: (n) => (151 - n) * 8 });
    const k = new ReachApiSink({ client: { apiUrl: s.url, token: TOKEN, maxBatchSize: 1, retry: { baseMs: 5, maxMs: 50, deadlineMs: 20_000 } }, batchWaitMs: 30_000 });
    const from = new Date(Date.now() - 1_000);
    const posted: Posted = await k.post(page('t-drain', 150), mayPost);
    expect(posted.upsertBatchIds).toHaveLength(150);
    const started = Date.now();
    await k.drainUnfinished('t-drain', 'customers', { from, to: new Date(Date.now() + 1_000) });
    expect(s.resources('t-drain', 'customers').size).toBe(150);
    expect(Date.now() - started).toBeLessThan(5_000);
    // The oldest is applied last: waiting for it leaves the rest done.
    expect(statusGets(s)).toBeLessThanOrEqual(150 + 30);
  });

  for (const ms of [1_000, 6_000]) {
    it(`cadence: one batch Reach takes ${ms / 1000} s over is asked about a bounded number of times`, async () => {
      const s = await reach({ processingDelayMs: ms });
      const k = sink(s.url);
      const posted = await k.post(page(`t-cadence-${ms}`, 10), mayPost);
      const started = Date.now();
      await k.processed(posted);
      expect(Date.now() - started).toBeGreaterThanOrEqual(ms);
      // Doubling from 20 ms asked 7 (1 s) and 9 (6 s) times; a quarter of the wait, about 20 and 27.
      expect(statusGets(s)).toBeLessThanOrEqual(30);
    });
  }

  it('a mixed page: deletes followed after upserts, their misses never reported, upsert failures reported once each', async () => {
    const s = await reach({ applyDelayOf: (n) => (n === 3 ? 0 : 500) });
    const k = sink(s.url);
    const p = page('t-mixed', 1500, [1499], [], ['gone-1', 'gone-2']);
    const posted = await k.post(p, mayPost);
    expect(posted.deleteBatchIds).toHaveLength(1);
    const failed = await k.processed(posted);
    expect(failed).toEqual([{ externalId: 'c1499', message: expect.stringContaining('bogus') }]);
    await sleep(10);
  });
});
