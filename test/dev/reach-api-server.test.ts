import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReachApiServer } from '../../src/dev/reach-api-server.ts';
import type { ReachApiServer } from '../../src/dev/reach-api-server.ts';
import type { ApiEnvelope, AcceptedBatch, BatchInfo, BatchList } from '../../src/sinks/reach-api/reach-api-types.ts';

const TOKEN = 'dev-server-token';
const TENANT = 'glow-salon-042';

const customers = {
  externalIdField: 'id',
  jsonSchema: {
    type: 'object',
    required: ['id', 'email'],
    properties: {
      id: { type: 'string', 'x-pii-type': 'EXTERNAL_ID' },
      email: { type: 'string', format: 'email', 'x-pii-type': 'EMAIL' },
      city: { type: 'string' },
      total_lifetime_value: { type: 'number' },
    },
  },
};

let server: ReachApiServer;

beforeAll(async () => {
  server = await startReachApiServer({ token: TOKEN, schemas: { customers }, seed: 7 });
});

afterAll(async () => {
  await server.close();
});

interface Answer<T> {
  status: number;
  headers: Headers;
  body: ApiEnvelope<T>;
}

async function api<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer<T>> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      'x-tenant-id': TENANT,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    body: typeof body === 'string' || body === undefined ? body : JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as ApiEnvelope<T> };
}

async function accepted(answer: Promise<Answer<AcceptedBatch>>): Promise<BatchInfo> {
  const { status, body } = await answer;
  expect(status).toBe(202);
  await server.settled();
  return (await api<BatchInfo>('GET', `/api/batches/${body.data!.batchId}`)).body.data!;
}

describe('reach-api dev server', () => {
  it('accepts a batch with 202 and the documented envelope', async () => {
    const answer = await api<AcceptedBatch>('POST', '/api/resources/customers/batch', {
      resources: [{ id: 'c0', email: 'c0@x.io' }],
    });
    expect(answer.status).toBe(202);
    expect(answer.body).toMatchObject({ success: true, data: { recordCount: 1 } });
    expect(answer.body.data).toEqual({
      batchId: expect.any(String),
      message: expect.any(String),
      recordCount: 1,
      schemaDefinitionId: expect.any(String),
    });
  });

  it('rejects 1001 resources, an empty list and malformed JSON with 400', async () => {
    const many = Array.from({ length: 1001 }, (_, i) => ({ id: `m${i}`, email: `m${i}@x.io` }));
    const tooMany = await api('POST', '/api/resources/customers/batch', { resources: many });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body).toEqual({ success: false, message: expect.stringContaining('at most 1000') });
    expect((await api('POST', '/api/resources/customers/batch', { resources: [] })).status).toBe(400);
    const malformed = await api('POST', '/api/resources/customers/batch', '{"resources": [');
    expect(malformed.status).toBe(400);
    expect(malformed.body.success).toBe(false);
    expect(server.resources(TENANT, 'customers').has('m0')).toBe(false);
  });

  it('requires the bearer token, the tenant header and a known schema', async () => {
    expect((await api('POST', '/api/resources/customers/batch', { resources: [{ id: 'a' }] }, { authorization: 'Bearer nope' })).status).toBe(401);
    const noTenant = await fetch(`${server.url}/api/resources/customers/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ resources: [{ id: 'a' }] }),
    });
    expect(noTenant.status).toBe(400);
    const viaReachHeader = await fetch(`${server.url}/api/resources/CUSTOMERS/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'reach-tenant-id': TENANT, 'content-type': 'application/json' },
      body: JSON.stringify({ resources: [{ id: 'h1', email: 'h1@x.io' }] }),
    });
    expect(viaReachHeader.status).toBe(202);
    expect((await api('POST', '/api/resources/invoices/batch', { resources: [{ id: 'a' }] })).status).toBe(404);
    expect((await api('POST', '/api/resources/customers/batch?onconflict=merge', { resources: [{ id: 'a' }] })).status).toBe(400);
    expect((await api('POST', '/api/resources/customers/batch?dependencyWaitTimeout=86401', { resources: [{ id: 'a' }] })).status).toBe(400);
  });

  it('merges upserts like a PATCH: fields left out are kept, null deletes', async () => {
    await accepted(api('POST', '/api/resources/customers/batch', {
      resources: [{ id: 'c1', email: 'c1@x.io', city: 'Lyon', total_lifetime_value: 10 }],
    }));
    const batch = await accepted(api('POST', '/api/resources/customers/batch', {
      resources: [{ id: 'c1', city: null, total_lifetime_value: 12 }],
    }));
    expect(batch.status).toBe('COMPLETED');
    expect(server.resources(TENANT, 'customers').get('c1')).toEqual({ id: 'c1', email: 'c1@x.io', total_lifetime_value: 12 });
  });

  it('records per-record failures: required field deleted, unknown field, onconflict=reject', async () => {
    await accepted(api('POST', '/api/resources/customers/batch', { resources: [{ id: 'c2', email: 'c2@x.io' }] }));
    const batch = await accepted(api('POST', '/api/resources/customers/batch?onconflict=reject', {
      resources: [
        { id: 'c3', email: 'c3@x.io' },
        { id: 'c2', email: 'other@x.io' },
        { id: 'c4', email: 'c4@x.io', shoe_size: 42 },
        { email: 'no-id@x.io' },
      ],
    }));
    expect(batch.status).toBe('COMPLETED');
    expect(batch.progress).toEqual({
      totalRecords: 4,
      processedRecords: 4,
      successfulRecords: 1,
      pendingRecords: 0,
      failedRecords: 3,
      successRate: 0.25,
    });
    expect(batch.errors!.details.map((d) => [d.index, d.externalId])).toEqual([
      [1, 'c2'],
      [2, 'c4'],
      [3, null],
    ]);
    const deletesRequired = await accepted(api('POST', '/api/resources/customers/batch', { resources: [{ id: 'c2', email: null }] }));
    expect(deletesRequired.status).toBe('FAILED');
    expect(deletesRequired.errors!.details[0]!.message).toContain('email');
    expect(server.resources(TENANT, 'customers').get('c2')).toEqual({ id: 'c2', email: 'c2@x.io' });

    const ignored = await accepted(api('POST', '/api/resources/customers/batch?ignoreUnknownFields=true', {
      resources: [{ id: 'c4', email: 'c4@x.io', shoe_size: 42 }],
    }));
    expect(ignored.progress.successfulRecords).toBe(1);
    expect(server.resources(TENANT, 'customers').get('c4')).toEqual({ id: 'c4', email: 'c4@x.io' });
  });

  it('reports progress of a large batch while and after it is processed', async () => {
    const resources = Array.from({ length: 1000 }, (_, i) => ({ id: `p${i}`, email: `p${i}@x.io` }));
    const answer = await api<AcceptedBatch>('POST', '/api/resources/customers/batch', { resources });
    const first = (await api<BatchInfo>('GET', `/api/batches/${answer.body.data!.batchId}`)).body.data!;
    expect(['PENDING', 'PROCESSING', 'COMPLETED']).toContain(first.status);
    expect(first.progress.totalRecords).toBe(1000);
    expect(first.progress.processedRecords + first.progress.pendingRecords).toBe(1000);
    await server.settled();
    const done = (await api<BatchInfo>('GET', `/api/batches/${answer.body.data!.batchId}`)).body.data!;
    expect(done).toMatchObject({
      status: 'COMPLETED',
      type: 'PARTNER_RESOURCE_BATCH_UPSERT',
      errors: null,
      progress: { processedRecords: 1000, successfulRecords: 1000, pendingRecords: 0, successRate: 1 },
    });
    expect((await api('GET', '/api/batches/nope')).status).toBe(404);
  });

  it('patches existing records and batch-deletes by external id', async () => {
    await accepted(api('POST', '/api/resources/customers/batch', {
      resources: [{ id: 'd1', email: 'd1@x.io', city: 'Oslo' }, { id: 'd2', email: 'd2@x.io' }],
    }));
    const patched = await accepted(api('PATCH', '/api/resources/customers/batch', {
      resources: [{ id: 'd1', city: 'Bergen' }, { id: 'missing', city: 'x' }],
    }));
    expect(patched).toMatchObject({ type: 'PARTNER_RESOURCE_BATCH_PATCH', progress: { successfulRecords: 1, failedRecords: 1 } });
    expect(server.resources(TENANT, 'customers').get('d1')).toEqual({ id: 'd1', email: 'd1@x.io', city: 'Bergen' });

    const deleted = await accepted(api('DELETE', '/api/resources/customers/batch', { externalIds: ['d1', 'd2'] }));
    expect(deleted).toMatchObject({ type: 'PARTNER_RESOURCE_BATCH_DELETE', status: 'COMPLETED', progress: { successfulRecords: 2 } });
    expect(server.resources(TENANT, 'customers').has('d1')).toBe(false);
    expect(server.resources(TENANT, 'customers').has('d2')).toBe(false);
    expect((await api('DELETE', '/api/resources/customers/batch', { externalIds: [] })).status).toBe(400);
  });

  it('lists batches with cursor pagination and a type filter', async () => {
    const seen: BatchInfo[] = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const page: BatchList = (await api<BatchList>('GET', `/api/batches?limit=2&cursor=${cursor}`)).body.data!;
      expect(page.batches.length).toBeLessThanOrEqual(2);
      seen.push(...page.batches);
      cursor = page.nextCursor;
    }
    expect(new Set(seen.map((b) => b.id)).size).toBe(seen.length);
    expect(seen.length).toBeGreaterThan(5);
    const deletes = (await api<BatchList>('GET', '/api/batches?type=PARTNER_RESOURCE_BATCH_DELETE')).body.data!;
    expect(deletes.batches.map((b) => b.type)).toEqual(['PARTNER_RESOURCE_BATCH_DELETE']);
    expect(deletes.nextCursor).toBeNull();
  });

  it('injects 429 with Retry-After and 503 without applying the records', async () => {
    server.setFaults({ rate429: 1, retryAfterSeconds: 3 });
    const limited = await api('POST', '/api/resources/customers/batch', { resources: [{ id: 'f1', email: 'f1@x.io' }] });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('3');
    server.setFaults({ rate503: 1 });
    expect((await api('POST', '/api/resources/customers/batch', { resources: [{ id: 'f1', email: 'f1@x.io' }] })).status).toBe(503);
    server.setFaults({});
    await server.settled();
    expect(server.resources(TENANT, 'customers').has('f1')).toBe(false);
    expect(server.requests.slice(-2).map((r) => [r.status, r.recordCount, r.tenant])).toEqual([
      [429, 1, TENANT],
      [503, 1, TENANT],
    ]);
  });

  it('accepts any schema with the default external id field when given no schema list', async () => {
    const open = await startReachApiServer({ token: TOKEN, externalIdField: 'code' });
    try {
      const response = await fetch(`${open.url}/api/resources/anything_goes/batch`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'x-tenant-id': TENANT, 'content-type': 'application/json' },
        body: JSON.stringify({ resources: [{ code: 'k1', extra: true }] }),
      });
      expect(response.status).toBe(202);
      await open.settled();
      expect(open.resources(TENANT, 'anything_goes').get('k1')).toEqual({ code: 'k1', extra: true });
    } finally {
      await open.close();
    }
  });
});
