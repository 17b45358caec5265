/**
 * Review 8a: an error while following the first batch of a page (followed alone, before the
 * others) leaves the later batches unfollowed. The engine must settle nothing of the
 * send then: the next pull settles it from Reach's counters, quarantines what Reach failed in
 * a later batch, and delivers the row's newest value.
 */
import http from 'node:http';
import type net from 'node:net';
import type { ReachApiServer } from '../../src/dev/reach-api-server.ts';
import { listRejections } from '../../src/store/delivery-state.ts';
import { describe, expect, test } from '../fixture.ts';

const STRICT_CONTACTS = {
  contacts: {
    externalIdField: 'id',
    jsonSchema: { type: 'object', required: ['id'], properties: { id: { type: 'string' }, email: { type: 'string', maxLength: 14 } } },
  },
};

describe('review 8a: a status error mid-follow', () => {
  test('batch 1\'s status refused: nothing settled; the next pull quarantines batch 3\'s failure and delivers the newest value', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const reach = await lab.reachApi({ schemas: STRICT_CONTACTS });
    // Reach's front door: while `refuse`, the first batch looked at gets 401 to its status.
    let refuse = true;
    let refused: string | undefined;
    const gw = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (refuse && req.method === 'GET' && req.url!.startsWith('/api/batches/') && (refused ??= req.url) === req.url) {
          res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ success: false, message: 'Token expired' }));
          return;
        }
        const headers = { ...req.headers } as Record<string, string>;
        delete headers['content-length'];
        void fetch(`${reach.url}${req.url}`, { method: req.method, headers, body: req.method === 'GET' ? undefined : Buffer.concat(chunks) })
          .then(async (r) => res.writeHead(r.status, { 'content-type': 'application/json' }).end(await r.text()), () => res.destroy());
      });
    });
    await new Promise<void>((resolve) => gw.listen(0, '127.0.0.1', () => resolve()));
    const front = { url: `http://127.0.0.1:${(gw.address() as net.AddressInfo).port}` } as ReachApiServer;
    const name = lab.unique('rf');
    // 2500 rows, one page: three batches; row 2400 (the third batch) fails Reach's schema.
    await lab.view(partner, name, 'id bigint primary key, email text, updated_at timestamptz not null',
      `select g, case when g = 2400 then 'a-very-long-address@x.io' else 'u' || g || '@x.io' end, clock_timestamp() - interval '1 hour' + g * interval '1 ms' from generate_series(1, 2500) g`);
    const connector = await lab.connector(store, partner, {
      id: name, reach: front, source: 'settle_seconds: 0',
      body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 2500, reject_threshold: 1, fields: { id: id, email: email } }
`,
    });
    const [a] = await lab.pull(store, connector);
    expect(a).toMatchObject({ status: 'failed', error: expect.objectContaining({ message: expect.stringMatching(/401|Token expired/) }) });
    expect(refused).toBeDefined();
    const delivered = () => store.db.selectFrom('delivered').select('external_id').where('connector_id', '=', connector.id).execute();
    expect(await delivered()).toEqual([]);
    expect(await listRejections(store.db, connector.id)).toEqual([]);

    refuse = false;
    await partner.exec(`update t_${name} set email = 'new@x.io', updated_at = clock_timestamp() where id = 2`);
    const [b] = await lab.pull(store, connector);
    expect(b).toMatchObject({ status: 'succeeded' });
    await reach.settled();
    const held = reach.resources(connector.tenant, 'contacts');
    expect(held.get('2')).toEqual({ id: '2', email: 'new@x.io' });
    expect(held.has('2400')).toBe(false);
    expect(held.size).toBe(2499);
    const ids = new Set((await delivered()).map((r) => r.external_id));
    expect(ids.has('2400')).toBe(false);
    expect(ids.size).toBe(2499);
    expect((await listRejections(store.db, connector.id)).map((r) => r.externalId)).toEqual(['2400']);
    await new Promise<void>((r) => { gw.closeAllConnections(); gw.close(() => r()); });
  }, 120_000);
});
