import { createServer } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startReachApiServer } from '../../../src/dev/reach-api-server.ts';
import type { ReachApiServer } from '../../../src/dev/reach-api-server.ts';
import { ConfigError, PermanentError, TransientError } from '../../../src/errors.ts';
import { ReachApiClient } from '../../../src/sinks/reach-api/reach-api-client.ts';
import type { ReachApiClientOptions } from '../../../src/sinks/reach-api/reach-api-client.ts';
import { ReachRejectedError } from '../../../src/sinks/reach-api/reach-rejected-error.ts';

const TOKEN = 'client-test-token-3f9a';
const TENANT = 'tenant-client';

let server: ReachApiServer;

beforeAll(async () => {
  server = await startReachApiServer({ token: TOKEN, seed: 11 });
});

afterAll(async () => {
  await server.close();
});

beforeEach(() => {
  server.setFaults({});
});

function client(options: Partial<ReachApiClientOptions> = {}): ReachApiClient {
  return new ReachApiClient({ apiUrl: server.url, token: TOKEN, retry: { baseMs: 5, maxMs: 50, deadlineMs: 10_000 }, ...options });
}

/** Records as the sink hands them to the client: JSON texts. */
function records(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => JSON.stringify({ id: `${prefix}${i}`, n: i }));
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe('ReachApiClient', () => {
  it('splits into requests of at most maxBatchSize', async () => {
    const input = records('s', 25);
    const receipt = await client({ maxBatchSize: 10 }).upsert(TENANT, 'split', input);
    expect(receipt.batchIds).toHaveLength(3);
    const sent = server.requests.filter((r) => r.path === '/api/resources/split/batch');
    expect(sent.map((r) => r.recordCount).sort((a, b) => a - b)).toEqual([5, 10, 10]);
    await server.settled();
    const sentRecords = input.map((text) => JSON.parse(text) as { id: string });
    expect(server.resources(TENANT, 'split')).toEqual(new Map(sentRecords.map((r) => [r.id, r])));
  });

  it('refuses a maxBatchSize above 1000', () => {
    expect(() => client({ maxBatchSize: 1001 })).toThrow(ConfigError);
  });

  it('waits at least the Retry-After of a 429 before retrying', async () => {
    server.setFaults({ rate429: 1, retryAfterSeconds: 1 });
    // Lift the fault as soon as the 429 is seen, so the retry is the next request.
    const liftAfter429: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (response.status === 429) server.setFaults({});
      return response;
    };
    await client({ fetch: liftAfter429 }).upsert(TENANT, 'retry_after', records('r', 1));
    const [limited, retried] = server.requests.filter((r) => r.path === '/api/resources/retry_after/batch');
    expect(limited!.status).toBe(429);
    expect(retried!.status).toBe(202);
    expect(retried!.at - limited!.at).toBeGreaterThanOrEqual(1000);
  });

  it('retries an attempt that times out', async () => {
    server.setFaults({ rateSlow: 1, slowMs: 300 });
    const failures: string[] = [];
    const liftAfterTimeout: typeof fetch = async (input, init) => {
      try {
        return await fetch(input, init);
      } catch (error) {
        failures.push((error as Error).name);
        server.setFaults({});
        throw error;
      }
    };
    const receipt = await client({ fetch: liftAfterTimeout, requestTimeoutMs: 100 }).upsert(TENANT, 'slow', records('t', 2));
    expect(failures).toEqual(['TimeoutError']);
    expect(receipt.batchIds).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await server.settled();
    expect(server.resources(TENANT, 'slow').size).toBe(2);
  });

  it('turns endless 503s into RP_SINK_UNAVAILABLE once the deadline passes', async () => {
    server.setFaults({ rate503: 1 });
    const started = Date.now();
    const error = await rejection(client({ retry: { baseMs: 10, maxMs: 40, deadlineMs: 300 } }).upsert(TENANT, 'down', records('d', 3)));
    expect(error).toBeInstanceOf(TransientError);
    expect((error as TransientError).code).toBe('RP_SINK_UNAVAILABLE');
    expect((error as Error).message).toContain('deadline');
    expect(server.requests.filter((r) => r.path === '/api/resources/down/batch').every((r) => r.status === 503)).toBe(true);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(server.resources(TENANT, 'down').size).toBe(0);
  });

  it('retries refused connections until the deadline', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const error = await rejection(
      client({ apiUrl: `http://127.0.0.1:${closedPort}`, retry: { baseMs: 10, maxMs: 40, deadlineMs: 200 } }).upsert(TENANT, 'x', records('x', 1)),
    );
    expect(error).toMatchObject({ code: 'RP_SINK_UNAVAILABLE' });
    expect((error as Error).message).toContain('ECONNREFUSED');
  });

  it('treats a 4xx as permanent, with the status and API message but never the token', async () => {
    const error = await rejection(client().upsert('', 'no_tenant', records('n', 1)));
    expect(error).toBeInstanceOf(ReachRejectedError);
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ code: 'RP_SINK_REJECTED', status: 400 });
    expect((error as ReachRejectedError).apiMessage).toContain('tenant');
    expect((error as Error).message).not.toContain(TOKEN);
  });

  it('deletes by external id and follows a batch', async () => {
    await server.settled();
    await client().upsert(TENANT, 'gone', records('g', 3));
    await server.settled();
    const receipt = await client({ maxBatchSize: 2 }).delete(TENANT, 'gone', ['g0', 'g1', 'g1']);
    expect(receipt.batchIds).toHaveLength(1);
    await server.settled();
    expect([...server.resources(TENANT, 'gone').keys()]).toEqual(['g2']);
    const batch = await client().batchStatus(receipt.batchIds[0]!);
    expect(batch).toMatchObject({ type: 'PARTNER_RESOURCE_BATCH_DELETE', status: 'COMPLETED', progress: { successfulRecords: 2 } });
  });

  it('sends nothing for nothing', async () => {
    const before = server.requests.length;
    expect(await client().upsert(TENANT, 'empty', [])).toEqual({ batchIds: [], ambiguous: false });
    expect(server.requests.length).toBe(before);
  });
});
