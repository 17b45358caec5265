import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startReachApiServer } from '../../../src/dev/reach-api-server.ts';
import type { ReachApiServer } from '../../../src/dev/reach-api-server.ts';
import type { ReachApiClientOptions } from '../../../src/sinks/reach-api/reach-api-client.ts';
import { ReachApiSink } from '../../../src/sinks/reach-api/reach-api-sink.ts';
import { deliverPage, type Checkpoint, type SinkPage, type Upsert } from '../../../src/sinks/sink.ts';
import type { StoreSchema } from '../../../src/store/schema.ts';
import { freshPgDatabase, pgExec } from '../../helpers/databases.ts';

const TOKEN = 'sink-test-token-77c1';

let server: ReachApiServer;
let store: Kysely<StoreSchema>;

beforeAll(async () => {
  const url = await freshPgDatabase('rp_sink_api');
  await pgExec(url, 'create table checkpoints (id serial primary key, page text not null)');
  store = new Kysely<StoreSchema>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url }) }) });
  server = await startReachApiServer({ token: TOKEN, seed: 2024 });
});

afterAll(async () => {
  await server?.close();
  await store?.destroy();
});

beforeEach(() => {
  server.setFaults({});
});

function sink(options: Partial<ReachApiClientOptions> = {}): ReachApiSink {
  return new ReachApiSink({
    store,
    client: { apiUrl: server.url, token: TOKEN, retry: { baseMs: 5, maxMs: 50, deadlineMs: 30_000 }, ...options },
  });
}

function page(tenant: string, schema: string, n: number): SinkPage {
  const upserts = Array.from({ length: n }, (_, i) =>
    upsert(`c${i}`, { id: `c${i}`, email: `c${i}@example.com`, total_lifetime_value: i }, String(i).padStart(8, '0')));
  return { tenant, schema, upserts, deletes: [] };
}

function upsert(externalId: string, record: Record<string, unknown>, version: string): Upsert {
  return { externalId, json: JSON.stringify(record), version };
}

/** A checkpoint that records `name` in the store's transaction. */
function checkpointFor(name: string): Checkpoint {
  return async (trx) => {
    await sql`insert into checkpoints (page) values (${name})`.execute(trx);
  };
}

async function checkpointsOf(name: string): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from checkpoints where page = ${name}`.execute(store);
  return rows[0]!.n;
}

function expectServerHolds(p: SinkPage): void {
  const stored = server.resources(p.tenant, p.schema);
  expect(stored.size).toBe(p.upserts.length);
  for (const u of p.upserts) expect(stored.get(u.externalId)).toEqual(JSON.parse(u.json));
}

describe('ReachApiSink', () => {
  it('delivers 2,500 records as three requests of at most 1000, then checkpoints', async () => {
    const p = page('tenant-a', 'customers', 2500);
    const receipt = await deliverPage(sink(), p, checkpointFor('bulk'));
    expect(receipt).toEqual({ batchIds: [expect.any(String), expect.any(String), expect.any(String)], staleSkipped: 0 });
    const sent = server.requests.filter((r) => r.tenant === 'tenant-a' && r.method === 'POST');
    expect(sent.map((r) => r.recordCount).sort((a, b) => a - b)).toEqual([500, 1000, 1000]);
    expect(sent.every((r) => r.status === 202)).toBe(true);
    await server.settled();
    expectServerHolds(p);
    expect(await checkpointsOf('bulk')).toBe(1);
  });

  it('gets everything through a storm of 30 % 429 and 10 % 503, checkpointing once', async () => {
    server.setFaults({ rate429: 0.3, rate503: 0.1, retryAfterSeconds: 0 });
    const p = page('tenant-storm', 'customers', 2500);
    await deliverPage(sink({ maxBatchSize: 100 }), p, checkpointFor('storm'));
    server.setFaults({});
    const statuses = server.requests.filter((r) => r.tenant === 'tenant-storm').map((r) => r.status);
    expect(statuses).toContain(429);
    expect(statuses).toContain(503);
    expect(statuses.filter((s) => s === 202)).toHaveLength(25);
    await server.settled();
    expectServerHolds(p);
    expect(await checkpointsOf('storm')).toBe(1);
  });

  it('rejects a wrong token with a clear message that hides the token, without checkpointing', async () => {
    const wrongToken = 'wrong-secret-token-xyz';
    const delivery = deliverPage(sink({ token: wrongToken }), page('tenant-401', 'customers', 3), checkpointFor('unauthorized'));
    const error = await delivery.then(
      () => undefined,
      (e: unknown) => e as Error & { code: string; status: number },
    );
    expect(error).toMatchObject({ code: 'RP_SINK_REJECTED', status: 401 });
    expect(error!.message).toContain('401');
    expect(error!.message).toContain('bearer token');
    expect(error!.message).not.toContain(wrongToken);
    expect(error!.message).not.toContain(TOKEN);
    expect(await checkpointsOf('unauthorized')).toBe(0);
  });

  it('survives a crash after accept and before checkpoint: the page is delivered again', async () => {
    const p = page('tenant-crash', 'customers', 1200);
    let calls = 0;
    const crashOnce: Checkpoint = async (trx, result) => {
      calls += 1;
      await checkpointFor('crash')(trx, result);
      if (calls === 1) throw new Error('process died before the checkpoint committed');
    };
    const s = sink();
    await expect(deliverPage(s, p, crashOnce)).rejects.toThrow('process died');
    expect(await checkpointsOf('crash')).toBe(0);
    await deliverPage(s, p, crashOnce);
    await server.settled();
    expectServerHolds(p);
    expect(await checkpointsOf('crash')).toBe(1);
  });

  it('deletes and keeps only the latest action per external id', async () => {
    const s = sink();
    await deliverPage(s, page('tenant-del', 'customers', 3), checkpointFor('del-1'));
    await server.settled();
    const next: SinkPage = {
      tenant: 'tenant-del',
      schema: 'customers',
      upserts: [
        upsert('c1', { id: 'c1', email: 'old@example.com' }, '00000005'),
        upsert('c1', { id: 'c1', email: 'new@example.com', total_lifetime_value: null }, '00000006'),
        upsert('c2', { id: 'c2', email: 'resurrected@example.com' }, '00000004'),
      ],
      deletes: [
        { externalId: 'c0', version: '00000007' },
        { externalId: 'c2', version: '00000009' },
      ],
    };
    await deliverPage(s, next, checkpointFor('del-2'));
    await server.settled();
    expect(Object.fromEntries(server.resources('tenant-del', 'customers'))).toEqual({
      c1: { id: 'c1', email: 'new@example.com' },
    });
    expect(await checkpointsOf('del-2')).toBe(1);
  });

  it('checkpoints an empty page without calling Reach', async () => {
    const before = server.requests.length;
    expect(await deliverPage(sink(), { tenant: 't', schema: 's', upserts: [], deletes: [] }, checkpointFor('empty'))).toEqual({
      batchIds: [],
      staleSkipped: 0,
    });
    expect(server.requests.length).toBe(before);
    expect(await checkpointsOf('empty')).toBe(1);
  });
});
