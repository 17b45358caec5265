/**
 * The Reach API sink against a real local Reach API: posting in requests of at most 1000,
 * retries, what a failed post had got accepted, and "processed" decided on the progress
 * counters (never on status names), within a deadline.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startReachApiServer } from '../../../src/dev/reach-api-server.ts';
import type { ReachApiServer } from '../../../src/dev/reach-api-server.ts';
import type { ReachApiClientOptions } from '../../../src/sinks/reach-api/reach-api-client.ts';
import { postedBefore, ReachApiSink } from '../../../src/sinks/reach-api/reach-api-sink.ts';
import type { SinkPage, Upsert } from '../../../src/sinks/sink.ts';
import { captureLog } from '../../helpers/quiet-log.ts';

const TOKEN = 'sink-test-token-77c1';
const mayPost = () => undefined;

let server: ReachApiServer;

beforeAll(async () => {
  server = await startReachApiServer({ token: TOKEN, seed: 2024 });
});

afterAll(async () => {
  await server?.close();
});

beforeEach(() => {
  server.setFaults({});
});

function sink(options: Partial<ReachApiClientOptions> = {}, batchWaitMs?: number, url = server.url) {
  return new ReachApiSink({
    client: { apiUrl: url, token: TOKEN, retry: { baseMs: 5, maxMs: 50, deadlineMs: 30_000 }, ...options },
    batchWaitMs,
  });
}

function page(tenant: string, schema: string, n: number): SinkPage {
  const upserts = Array.from({ length: n }, (_, i) =>
    upsert(`c${i}`, { id: `c${i}`, email: `c${i}@example.com`, total_lifetime_value: i }, String(i).padStart(8, '0')));
  return { tenant, schema, writer: 'test/stream', upserts, deletes: [] };
}

function upsert(externalId: string, record: Record<string, unknown>, version: string): Upsert {
  return { externalId, json: JSON.stringify(record), version };
}

function expectServerHolds(s: ReachApiServer, p: SinkPage): void {
  const stored = s.resources(p.tenant, p.schema);
  expect(stored.size).toBe(p.upserts.length);
  for (const u of p.upserts) expect(stored.get(u.externalId)).toEqual(JSON.parse(u.json));
}

describe('ReachApiSink', () => {
  it('posts 2,500 records as three requests of at most 1000; once processed, Reach holds them all', async () => {
    const p = page('tenant-a', 'customers', 2500);
    const s = sink();
    const posted = await s.post(p, mayPost);
    expect(posted).toEqual({ upsertBatchIds: [expect.any(String), expect.any(String), expect.any(String)], deleteBatchIds: [], ambiguous: false });
    const sent = server.requests.filter((r) => r.tenant === 'tenant-a' && r.method === 'POST');
    expect(sent.map((r) => r.recordCount).sort((a, b) => a - b)).toEqual([500, 1000, 1000]);
    expect(await s.processed(posted)).toEqual([]);
    expectServerHolds(server, p);
  });

  it('gets everything through a storm of 30 % 429 and 10 % 503, none of it ambiguous', async () => {
    server.setFaults({ rate429: 0.3, rate503: 0.1, retryAfterSeconds: 0 });
    const p = page('tenant-storm', 'customers', 2500);
    const s = sink({ maxBatchSize: 100 });
    const posted = await s.post(p, mayPost);
    server.setFaults({});
    const statuses = server.requests.filter((r) => r.tenant === 'tenant-storm').map((r) => r.status);
    expect(statuses).toContain(429);
    expect(statuses).toContain(503);
    expect(statuses.filter((x) => x === 202)).toHaveLength(25);
    expect(posted.ambiguous).toBe(false);
    await s.processed(posted);
    expectServerHolds(server, p);
  });

  it('rejects a wrong token with a clear message that hides the token, having got nothing accepted', async () => {
    const wrongToken = 'wrong-secret-token-xyz';
    const error = await sink({ token: wrongToken }).post(page('tenant-401', 'customers', 3), mayPost).then(
      () => undefined,
      (e: unknown) => e as Error & { code: string; status: number },
    );
    expect(error).toMatchObject({ code: 'RP_SINK_REJECTED', status: 401 });
    expect(error!.message).toContain('bearer token');
    expect(error!.message).not.toContain(wrongToken);
    expect(error!.message).not.toContain(TOKEN);
    expect(postedBefore(error)).toEqual({ upsertBatchIds: [], deleteBatchIds: [], ambiguous: false });
  });

  it('reports the batches a failed post got accepted, and a timed-out request as ambiguous', async () => {
    let calls = 0;
    // The second request is refused for good; the first was accepted before that.
    const refuseSecond: typeof fetch = async (input, init) => {
      calls += 1;
      if (calls === 2) return new Response(JSON.stringify({ success: false, message: 'schema is gone' }), { status: 404 });
      return fetch(input, init);
    };
    const error = await sink({ maxBatchSize: 2, tenantConcurrency: 1, fetch: refuseSecond }).post(page('tenant-partial', 'customers', 4), mayPost)
      .then(() => undefined, (e: unknown) => e);
    expect(postedBefore(error)).toEqual({ upsertBatchIds: [expect.any(String)], deleteBatchIds: [], ambiguous: false });

    // No answer in time: Reach may have taken the request, so the post is ambiguous even once a retry got through.
    let slow = true;
    const hangOnce: typeof fetch = async (input, init) => {
      if (slow) {
        slow = false;
        await new Promise((r) => setTimeout(r, 300));
      }
      return fetch(input, init);
    };
    const posted = await sink({ fetch: hangOnce, requestTimeoutMs: 100 }).post(page('tenant-timeout', 'customers', 2), mayPost);
    expect(posted).toMatchObject({ upsertBatchIds: [expect.any(String)], ambiguous: true });
  });

  it('stops before a request when the caller may no longer send', async () => {
    const before = server.requests.length;
    const stop = () => {
      throw Object.assign(new Error('run was taken for dead'), { code: 'RP_RUN_FENCED' });
    };
    await expect(sink().post(page('tenant-fenced', 'customers', 3), stop)).rejects.toMatchObject({ code: 'RP_RUN_FENCED' });
    expect(server.requests.length).toBe(before);
  });

  it('posts deletes to the delete route; a delete of a record Reach lacks is no failure', async () => {
    const s = sink();
    await s.processed(await s.post(page('tenant-del', 'customers', 3), mayPost));
    const posted = await s.post({ tenant: 'tenant-del', schema: 'customers', writer: 'test/stream', upserts: [], deletes: [
      { externalId: 'c0', version: '00000007' }, { externalId: 'never-sent', version: '00000009' },
    ] }, mayPost);
    expect(posted.deleteBatchIds).toHaveLength(1);
    expect(await s.processed(posted)).toEqual([]);
    expect([...server.resources('tenant-del', 'customers').keys()].sort()).toEqual(['c1', 'c2']);
  });

  it('posts nothing for an empty page', async () => {
    const before = server.requests.length;
    expect(await sink().post({ tenant: 't', schema: 's', writer: 'test/stream', upserts: [], deletes: [] }, mayPost))
      .toEqual({ upsertBatchIds: [], deleteBatchIds: [], ambiguous: false });
    expect(server.requests.length).toBe(before);
  });

  it('decides "processed" on the progress counters: a status name it does not know is warned about once, never waited on', async () => {
    const renamed: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (!String(input).includes('/api/batches/')) return response;
      const body = (await response.json()) as { data: { status: string } };
      body.data.status = body.data.status === 'COMPLETED' ? 'DONE_OK' : 'WORKING';
      return new Response(JSON.stringify(body), { status: response.status, headers: { 'content-type': 'application/json' } });
    };
    const { log, lines } = captureLog();
    // Each batch takes 150 ms: the first look (after 20 ms) always finds it unfinished.
    const slow = await startReachApiServer({ token: TOKEN, processingDelayMs: 150 });
    try {
      const s = new ReachApiSink({ client: { apiUrl: slow.url, token: TOKEN, fetch: renamed }, log, batchWaitMs: 5_000 });
      const started = performance.now();
      for (let i = 0; i < 3; i++) await s.processed(await s.post(page(`tenant-renamed-${i}`, 'customers', 5), mayPost));
      expect(performance.now() - started).toBeLessThan(4_000);
      const warnings = lines().filter((l) => l.msg.includes('status this puller does not know'));
      // Each name once, whatever the number of batches that reported it.
      expect(warnings.map((w) => w.status).sort()).toEqual(['DONE_OK', 'WORKING']);
    } finally {
      await slow.close();
    }
  });

  it('follows a page of five batches Reach takes a second over with about the status requests of one, and reports the failures of each', async () => {
    const slow = await startReachApiServer({ token: TOKEN, processingDelayMs: 1_000 });
    try {
      const p = page('tenant-follow', 'customers', 5000);
      // Reach fails one record of the first batch and one of the last (no external id field).
      for (const i of [7, 4321]) p.upserts[i] = upsert(`c${i}`, { email: `c${i}@example.com` }, p.upserts[i]!.version);
      const s = sink({}, 30_000, slow.url);
      const posted = await s.post(p, mayPost);
      expect(posted.upsertBatchIds).toHaveLength(5);
      const failed = await s.processed(posted);
      expect(failed).toEqual([
        { message: expect.stringContaining(`1 record(s) of batch ${posted.upsertBatchIds[0]}`) },
        { message: expect.stringContaining(`1 record(s) of batch ${posted.upsertBatchIds[4]}`) },
      ]);
      const stored = slow.resources('tenant-follow', 'customers');
      expect(stored.size).toBe(4998);
      // Each batch followed on its own, doubling from 20 ms, asked 7 times each (35); a fixed 10 ms cadence, 100 times.
      const looks = slow.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/api/batches/'));
      expect(looks.length).toBeGreaterThanOrEqual(5);
      expect(looks.length).toBeLessThanOrEqual(26);
    } finally {
      await slow.close();
    }
  });

  it('fails with RP_SINK_UNCONFIRMED when Reach has not processed a batch by the wait deadline', async () => {
    const slowReach = await startReachApiServer({ token: TOKEN, processingDelayMs: 5_000 });
    try {
      const s = sink({}, 300, slowReach.url);
      const posted = await s.post(page('tenant-slow', 'customers', 2), mayPost);
      await expect(s.processed(posted)).rejects.toMatchObject({ code: 'RP_SINK_UNCONFIRMED' });
    } finally {
      await slowReach.close();
    }
  });

  it('waits out every batch Reach lists as unfinished for the tenant and schema, created within the window', async () => {
    const lateReach = await startReachApiServer({ token: TOKEN, maxApplyDelayMs: 800 });
    try {
      const s = sink({}, undefined, lateReach.url);
      const p = page('tenant-drain', 'customers', 30);
      const from = new Date();
      await sink({ maxBatchSize: 3 }, undefined, lateReach.url).post(p, mayPost);
      expect(lateReach.resources('tenant-drain', 'customers').size).toBeLessThan(30);
      // Batches created now are outside a window that ended ten minutes ago (beyond the clock skew allowed).
      await s.drainUnfinished('tenant-drain', 'customers', { from: new Date(Date.now() - 3_600_000), to: new Date(Date.now() - 600_000) });
      expect(lateReach.resources('tenant-drain', 'customers').size).toBeLessThan(30);
      await s.drainUnfinished('tenant-drain', 'customers', { from, to: new Date() });
      expectServerHolds(lateReach, p);
    } finally {
      await lateReach.close();
    }
  });
});
