/**
 * Text from a remote answer that is stored or shown is short and scrubbed, and a remote
 * answer is never read whole (review of issue 14):
 * - a Reach batch's per-record error messages and summary go through the client's redaction
 *   (src/remote-text.ts) before they reach `rejected_records.reason`; a batch id that is not a
 *   short id-like string is a malformed answer;
 * - a partner database's error text is cut to its start in `runs.error`;
 * - a Reach answer's body is read up to a byte cap and the rest cancelled unread.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { ReachApiClient } from '../../src/sinks/reach-api/reach-api-client.ts';
import { toSourceError } from '../../src/sources/error-codes.ts';
import { registerYaml } from '../helpers/store.ts';
import { describe, expect, LAB_REACH_TOKEN, test, type Lab, type LabStore } from '../fixture.ts';
import type { RegisteredConnector } from '../../src/store/connector-registry.ts';

async function httpServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A Reach that accepts a batch as `batchId` and reports its one record failed with `message`. */
function hostileReach(batchId: string, message: string) {
  return httpServer((req, res) => {
    const send = (status: number, data: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ success: true, message: '', data }));
    };
    req.resume();
    req.on('end', () => {
      if (req.method === 'GET' && req.url?.startsWith('/api/batches?')) return send(200, { batches: [], nextCursor: null });
      if (req.method === 'POST') return send(202, { batchId, message: 'accepted', recordCount: 1, schemaDefinitionId: 'x' });
      if (req.method === 'GET' && req.url === `/api/batches/${encodeURIComponent(batchId)}`) {
        return send(200, {
          id: batchId, type: 'PARTNER_RESOURCE_BATCH_UPSERT', status: 'COMPLETED', tenantId: 't', schemaName: 'contacts',
          schemaDefinitionId: 'x', createdAt: new Date().toISOString(), completedAt: new Date().toISOString(),
          progress: { totalRecords: 1, processedRecords: 1, successfulRecords: 0, pendingRecords: 0, failedRecords: 1, successRate: 0 },
          // The record is named once (its message) and left unnamed once (the summary).
          errors: { summary: message, message, details: [{ index: 0, externalId: '1', message }] },
        });
      }
      return send(404, null);
    });
  });
}

/** A PostgreSQL partner with one row in `v_<name>` and a connector on it delivering to `reachUrl`. */
async function connectorTo(lab: Lab, store: LabStore, reachUrl: string): Promise<RegisteredConnector> {
  const partner = await lab.partner('postgres');
  const name = lab.unique('rt');
  await lab.view(partner, name, 'id bigint primary key, email text, updated_at timestamptz not null', `values (1, 'a@x.io', now() - interval '1 hour')`);
  return lab.connector(store, partner, {
    id: name, source: 'settle_seconds: 0',
    body: `reach: { api_url: "${reachUrl}", token: "\${env:RP_LAB_REACH_TOKEN}" }
streams:
  - { name: s, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, reject_threshold: 1, fields: { id: id, email: email } }
`,
  });
}

describe('Reach text kept by the puller', () => {
  test('a Reach batch error message is stored short and without the token', async ({ lab }) => {
    const store = await lab.store();
    const echo = `your token was ${LAB_REACH_TOKEN};\u001b[31m ${'y'.repeat(20_000)}`;
    const reach = await hostileReach('b1', echo);
    try {
      await lab.pull(store, await connectorTo(lab, store, reach.url));
      const rows = await store.db.selectFrom('rejected_records').select('reason').execute();
      expect(rows.length).toBeGreaterThan(0);
      for (const { reason } of rows) {
        expect(reason.includes(LAB_REACH_TOKEN), 'the token is stored in rejected_records.reason').toBe(false);
        expect(reason, 'control characters in rejected_records.reason').not.toMatch(/[\u0000-\u001f]/);
        expect(reason.length, 'length of rejected_records.reason').toBeLessThan(600);
      }
    } finally {
      await reach.close();
    }
  });

  test('a batch id that is not a short id is refused as a malformed answer, and never stored', async ({ lab }) => {
    const store = await lab.store();
    const hugeId = `${LAB_REACH_TOKEN}-${'q'.repeat(10_000)}`;
    const reach = await hostileReach(hugeId, 'no');
    try {
      const [run] = await lab.pull(store, await connectorTo(lab, store, reach.url));
      expect(run).toMatchObject({ status: 'failed' });
      const runs = await store.db.selectFrom('runs').select(['error_code', 'error']).execute();
      const failed = runs.find((r) => r.error_code === 'RP_SINK_REJECTED');
      expect(failed?.error).toContain('malformed batchId');
      // No column of any table holds the id or the token.
      for (const table of ['runs', 'delivery_sends', 'delivery_claims', 'rejected_records'] as const) {
        const text = JSON.stringify(await store.db.selectFrom(table).selectAll().execute().catch(() => []));
        expect(text.includes(LAB_REACH_TOKEN), `the token in ${table}`).toBe(false);
        expect(text.includes('q'.repeat(100)), `the id in ${table}`).toBe(false);
      }
    } finally {
      await reach.close();
    }
  });
});

describe('partner text kept by the puller', () => {
  test('a driver message is cut to its start in the source error, the password scrubbed first', () => {
    const password = 'pw-Straddles-the-cut';
    const text = `${'a'.repeat(290)}${password}\u0000${'b'.repeat(100_000)}`;
    const error = toSourceError('postgres', Object.assign(new Error(text), { code: '28P01' }), { source: 'postgres://u@h:5432/d', secret: password });
    expect(error.code).toBe('RP_SOURCE_AUTH');
    expect(error.message.length).toBeLessThan(400);
    expect(error.message).not.toContain(password.slice(0, 5));
    expect(error.message).not.toMatch(/[\u0000-\u001f]/);
    expect(error.message.startsWith(`postgres://u@h:5432/d: ${'a'.repeat(290)}`)).toBe(true);
  });

  test('a partner database error is stored short, without control characters', async ({ lab }) => {
    const store = await lab.store();
    const huge = `no entry for you\r\n\u001b]0;title\u0007 ${'z'.repeat(100_000)}`;
    // A PostgreSQL impostor: answers the startup with an ErrorResponse of 100 KB.
    const fields = Buffer.from(`SFATAL\0C28000\0M${huge}\0\0`);
    const header = Buffer.alloc(5);
    header.write('E');
    header.writeInt32BE(fields.length + 4, 1);
    const sockets = new Set<net.Socket>();
    const impostor = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.once('data', () => socket.end(Buffer.concat([header, fields])));
    });
    await new Promise<void>((r) => impostor.listen(0, '127.0.0.1', () => r()));
    try {
      const { port } = impostor.address() as AddressInfo;
      const connector = await registerYaml(store, lab.unique('src'), `tenant: rt
source:
  dialect: postgres
  host: 127.0.0.1
  port: ${port}
  database: whatever
  user: postgres
  password: \${env:RP_TEST_RO_PASSWORD}
  ssl: { mode: disable }
  settle_seconds: 0
streams:
  - { name: s, view: v_contacts, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: id, email: email } }
`);
      await lab.pull(store, connector).catch(() => undefined);
      const runs = await store.db.selectFrom('runs').select(['error_code', 'error']).execute();
      expect(runs.length).toBeGreaterThan(0);
      for (const { error_code, error } of runs) {
        expect(error_code).toBe('RP_SOURCE_AUTH');
        expect(error).toContain('no entry for you');
        expect(error, 'control characters in runs.error').not.toMatch(/[\u0000-\u001f]/);
        expect((error ?? '').length, 'length of runs.error').toBeLessThan(2_000);
      }
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => impostor.close(() => r()));
    }
  });
});

describe('Reach answers are read up to a cap', () => {
  /** A Reach answering `status` with 64 MB; `fullyWritten()` once all of it left. */
  async function floodingReach(status: number) {
    const CHUNK = Buffer.alloc(1024 * 1024, 0x78);
    let fullyWritten = false;
    const reach = await httpServer((req, res) => {
      req.resume();
      res.writeHead(status, { 'content-type': 'application/json' });
      let sent = 0;
      const pump = () => {
        while (sent < 64) {
          sent++;
          if (!res.write(sent === 1 ? Buffer.concat([Buffer.from('{"success":true,"message":"","data":{"batchId":"b1","x":"'), CHUNK]) : CHUNK)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end('"}}');
        res.once('finish', () => (fullyWritten = true));
      };
      res.on('error', () => undefined);
      pump();
    });
    return { ...reach, fullyWritten: () => fullyWritten };
  }

  test('a huge Reach error answer is not read whole', async () => {
    const reach = await floodingReach(400);
    try {
      const client = new ReachApiClient({ apiUrl: reach.url, token: LAB_REACH_TOKEN, retry: { deadlineMs: 20_000 }, requestTimeoutMs: 15_000 });
      const error = await client.upsert('rt', 'contacts', ['{"id":"1"}']).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'RP_SINK_REJECTED' });
      expect((error as Error).message.length).toBeLessThan(600);
      await new Promise((r) => setTimeout(r, 200));
      // A bounded reader stops after a few KB; an unbounded one drains all 64 MB into memory.
      expect(reach.fullyWritten()).toBe(false);
    } finally {
      await reach.close();
    }
  });

  test('a huge success answer is a malformed answer, not read whole', async () => {
    const reach = await floodingReach(202);
    try {
      const client = new ReachApiClient({ apiUrl: reach.url, token: LAB_REACH_TOKEN, retry: { deadlineMs: 20_000 }, requestTimeoutMs: 15_000 });
      await expect(client.upsert('rt', 'contacts', ['{"id":"1"}'])).rejects.toMatchObject({
        code: 'RP_SINK_REJECTED', message: expect.stringContaining('a malformed answer'),
      });
      await new Promise((r) => setTimeout(r, 200));
      expect(reach.fullyWritten()).toBe(false);
    } finally {
      await reach.close();
    }
  });
});
