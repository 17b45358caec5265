/**
 * Settling a send its run left behind (claimed-delivery.ts). Found by the review of the one
 * delivery order: a dead or failed run's request can still be on its way into Reach, so its
 * send is settled only once that request would have arrived, on either store; and waiting
 * for the batches it may have left must not mean waiting for every unfinished batch of the
 * tenant (the partner's own pushes can stay pending for a day).
 */
import http from 'node:http';
import net from 'node:net';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, LAB_REACH_TOKEN, test } from '../fixture.ts';

// Short enough for a test, with the same order as the defaults: the request grace is longer than a request takes here (8 s at most).
const TIMING = { REACH_PULLER_HEARTBEAT_MS: '200', REACH_PULLER_SEND_DEADLINE_MS: '1500', REACH_PULLER_REQUEST_GRACE_MS: '10000', REACH_PULLER_REACH_CLOCK_SKEW_MS: '300' };

/** A gateway in front of Reach that forwards what it received even after the client died; says when a POST came in. */
async function forwardingGateway(target: string) {
  const { port } = new URL(target);
  let onPost: () => void = () => undefined;
  const posted = new Promise<void>((resolve) => (onPost = resolve));
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), '127.0.0.1');
    upstream.on('error', () => undefined);
    client.on('error', () => undefined);
    client.on('data', (chunk: Buffer) => {
      if (chunk.toString('latin1').includes('POST /api/resources/')) onPost();
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => !client.destroyed && client.write(chunk));
    // The client dying does not take back what the gateway already received.
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, posted, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const people = (name: string, extra = '') => `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, ${extra}fields: { id: id, email: email } }
`;

describe('a dead run\'s request still on its way into Reach', () => {
  test('embedded store: the next pull settles the dead send only once the request could have arrived', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const reach = await lab.reachApi();
    const gw = await forwardingGateway(reach.url);
    const home = await lab.tmpDir();
    const name = lab.unique('eo');
    await lab.view(partner, name, 'id bigint primary key, email text, updated_at timestamptz not null',
      `select g, 'u' || g || '@x.io', clock_timestamp() - interval '1 hour' + g * interval '1 ms' from generate_series(1, 3) g`);
    const file = path.join(home, `${name}.yaml`);
    await writeFile(file, `tenant: ${name}\n${partner.sourceYaml('  settle_seconds: 0')}\n${people(name)}`);
    const env = { ...TIMING, DATABASE_URL: '', REACH_PULLER_HOME: home, REACH_API_URL: gw.url, REACH_API_TOKEN: LAB_REACH_TOKEN };
    const applied = await lab.cli(['apply', file], { env });
    expect(applied.code, applied.stderr).toBe(0);

    // Reach's front door holds the next requests 6 s before they become batches; the pull dies meanwhile.
    reach.setFaults({ rateSlow: 1, slowMs: 6_000 });
    const a = lab.spawnCli(['pull', name], { env });
    await gw.posted;
    await sleep(200);
    a.child.kill('SIGKILL');
    await a.result;
    const killedAt = Date.now();
    reach.setFaults({});

    await partner.exec(`update t_${name} set email = 'new@x.io', updated_at = clock_timestamp() where id = 3`);
    const b = await lab.cli(['pull', name, '--json'], { env });
    expect(b.code, b.stderr).toBe(0);
    // The dead run's request has become a batch by now, whenever the pull ended.
    await sleep(Math.max(0, 7_000 - (Date.now() - killedAt)));
    await reach.settled();
    expect(reach.resources(name, 'contacts').get('3')).toEqual({ id: '3', email: 'new@x.io' });
    await gw.close();
  }, 120_000);

  test('a run whose post failed part-way: its aborted request lands before the next run\'s newer value', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const reach = await lab.reachApi();
    // Reach's front door: while `hostile`, holds the request carrying record 1 for 8 s (then
    // forwards it, whoever still listens) and refuses the page's other POSTs with 401.
    let hostile = true;
    let heldLanded: () => void = () => undefined;
    const landed = new Promise<void>((resolve) => (heldLanded = resolve));
    const gw = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const forward = () => fetch(`${reach.url}${req.url}`, { method: req.method, headers: req.headers as Record<string, string>, body: req.method === 'GET' ? undefined : body })
          .then(async (r) => {
            const text = await r.text();
            if (!res.destroyed) res.writeHead(r.status, { 'content-type': 'application/json' }).end(text);
          }, () => undefined);
        if (hostile && req.method === 'POST' && body.toString().includes('[{"id":"1",')) setTimeout(() => void forward().then(heldLanded), 8_000);
        else if (hostile && req.method === 'POST') res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ success: false, message: 'Token expired' }));
        else void forward();
      });
    });
    await new Promise<void>((resolve) => gw.listen(0, '127.0.0.1', () => resolve()));
    const gwUrl = `http://127.0.0.1:${(gw.address() as net.AddressInfo).port}`;
    const name = lab.unique('ea');
    await lab.view(partner, name, 'id bigint primary key, email text, updated_at timestamptz not null',
      `select g, 'u' || g || '@x.io', clock_timestamp() - interval '1 hour' + g * interval '1 ms' from generate_series(1, 2000) g`);
    const connector = await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0', body: people(name, 'page_size: 2000, ') });
    const env = { ...TIMING, DATABASE_URL: store.url, REACH_API_URL: gwUrl, REACH_API_TOKEN: LAB_REACH_TOKEN };
    const a = await lab.cli(['pull', connector.id, '--json'], { env });
    expect(JSON.parse(a.stdout)[0]).toMatchObject({ status: 'failed', error: expect.stringMatching(/^RP_SINK_REJECTED/) });
    hostile = false;

    await partner.exec(`update t_${name} set email = 'new@x.io', updated_at = clock_timestamp() where id = 1`);
    const b = await lab.cli(['pull', connector.id, '--json'], { env });
    expect(JSON.parse(b.stdout)[0]).toMatchObject({ status: 'succeeded' });
    await landed;
    await reach.settled();
    expect(reach.resources(connector.tenant, 'contacts').get('1')).toEqual({ id: '1', email: 'new@x.io' });
    await new Promise<void>((r) => gw.close(() => r()));
  }, 120_000);
});

describe('a dead pull\'s unanswered send, and an unrelated unfinished batch of the same tenant in Reach', () => {
  test('the next pull waits for the batches the send may have left, not for the unrelated one', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    // Reach's first batch (the partner's own push) stays pending for an hour; every other one is applied at once.
    const reach = await lab.reachApi({ applyDelayOf: (n) => (n === 1 ? 3_600_000 : 0) });
    const name = lab.unique('fb');
    await lab.view(partner, name, 'id bigint primary key, email text, updated_at timestamptz not null',
      `select g, 'u' || g || '@x.io', clock_timestamp() - interval '1 hour' + g * interval '1 ms' from generate_series(1, 20) g`);
    const connector = await lab.connector(store, partner, { id: name, reach, source: 'settle_seconds: 0', body: people(name) });
    // The partner's own integration pushes a contact for the same tenant (say, waiting on a dependency).
    const push = await fetch(`${reach.url}/api/resources/contacts/batch`, {
      method: 'POST', headers: { authorization: `Bearer ${LAB_REACH_TOKEN}`, 'x-tenant-id': connector.tenant, 'content-type': 'application/json' },
      body: JSON.stringify({ resources: [{ id: 'pushed-by-partner-api', email: 'p@x.io' }] }),
    });
    expect(push.status).toBe(202);
    await sleep(1_000);

    // A pull is killed while Reach has not answered its POST yet.
    reach.setFaults({ rateSlow: 1, slowMs: 1_500 });
    const env = { ...TIMING, REACH_PULLER_REQUEST_GRACE_MS: '500', DATABASE_URL: store.url };
    const a = lab.spawnCli(['pull', connector.id], { env });
    while ((await store.db.selectFrom('delivery_sends').select('id').where('connector_id', '=', connector.id).execute()).length === 0) await sleep(20);
    await sleep(300);
    a.child.kill('SIGKILL');
    await a.result;
    reach.setFaults({});

    const b = await lab.cli(['pull', connector.id, '--json'], { env, timeoutMs: 45_000 });
    expect(JSON.parse(b.stdout)[0]).toMatchObject({ status: 'succeeded' });
    // The pull waited for its own batches and the dead run's; only the partner's push is pending.
    const view = await partner.query<{ id: string; email: string }>(`select id::text, email from v_${name}`);
    const held = Object.fromEntries([...reach.resources(connector.tenant, 'contacts')].filter(([id]) => id !== 'pushed-by-partner-api'));
    expect(held).toEqual(Object.fromEntries(view.map((r) => [r.id, r])));
  }, 120_000);
});

describe('a dead run\'s accepted send whose batch Reach has since forgotten (retention)', () => {
  test('the next pull settles it as unknown and delivers the rows again, instead of failing for good', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    // Reach applies the first batch 3 s after accepting it; the run dies waiting for it.
    const reach = await lab.reachApi({ applyDelayOf: (n) => (n === 1 ? 3_000 : 0) });
    const name = lab.unique('fr');
    await lab.view(partner, name, 'id bigint primary key, email text, updated_at timestamptz not null',
      `select g, 'u' || g || '@x.io', clock_timestamp() - interval '1 hour' + g * interval '1 ms' from generate_series(1, 5) g`);
    const connector = await lab.connector(store, partner, { id: name, reach, source: 'settle_seconds: 0', body: people(name) });
    const env = { ...TIMING, DATABASE_URL: store.url };
    const a = lab.spawnCli(['pull', connector.id], { env });
    const accepted = () => store.db.selectFrom('delivery_sends').select('id').where('connector_id', '=', connector.id).where('state', '=', 'accepted').execute();
    while ((await accepted()).length === 0) await sleep(20);
    a.child.kill('SIGKILL');
    await a.result;
    await reach.settled();
    reach.expireBatches();

    await partner.exec(`update t_${name} set email = 'new@x.io', updated_at = clock_timestamp() where id = 2`);
    const b = await lab.cli(['pull', connector.id, '--json'], { env });
    expect(JSON.parse(b.stdout)[0]).toMatchObject({ status: 'succeeded' });
    const view = await partner.query<{ id: string; email: string }>(`select id::text, email from v_${name}`);
    expect(Object.fromEntries(reach.resources(connector.tenant, 'contacts'))).toEqual(Object.fromEntries(view.map((r) => [r.id, r])));
  }, 60_000);
});
