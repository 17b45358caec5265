/**
 * Where a Reach token may go: only to a Reach URL the operator configured, over https (plain
 * http to loopback only with the dev flag), never the global token to a connector's own URL,
 * never along a redirect; and what a remote answers is kept short and scrubbed.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { emailStreamYaml } from '../helpers/partner.ts';
import { describe, expect, LAB_REACH_TOKEN, test } from '../fixture.ts';

/** A listener on loopback that records every request it receives, answering as told. */
async function listener(answer: (path: string) => { status: number; body?: string; headers?: Record<string, string> }) {
  const received: { path: string; headers: IncomingHttpHeaders }[] = [];
  const server: Server = createServer((req, res) => {
    received.push({ path: req.url ?? '', headers: req.headers });
    const a = answer(req.url ?? '');
    res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
    res.end(a.body ?? '{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, received, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('Reach egress', () => {
  test('a connector cannot aim a token at a listener the operator did not allow, nor get the global token sent to its own URL', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    await lab.view(partner, 'egress', 'id bigint primary key, email text, updated_at timestamptz not null', `values (1, 'a@x.io', now() - interval '1 hour')`);
    const reach = await lab.reachApi();
    const foreign = await listener(() => ({ status: 202, body: '{"data":{"batchId":"x"}}' }));
    try {
      const env = { ...process.env, REACH_API_URL: reach.url, REACH_API_TOKEN: LAB_REACH_TOKEN, REACH_PULLER_REACH_URLS: reach.url, RP_EGRESS_TOKEN: 'egress-connector-token-77' };
      const body = emailStreamYaml('s').replace('view: v', 'view: v_egress');
      const attempts = [
        // Its own URL, not allowed: whatever token it names.
        `reach: { api_url: "${foreign.url}", token: "\${env:RP_EGRESS_TOKEN}" }\n${body}`,
        // An allowed origin but no token of its own: the global token must not follow it there.
        `reach: { api_url: "${reach.url}/other-path" }\n${body}`,
      ];
      for (const [i, text] of attempts.entries()) {
        const connector = await lab.connector(store, partner, { id: `egress${i}`, body: text, source: 'settle_seconds: 0' });
        await expect(lab.pull(store, connector, { runtime: { env } })).rejects.toMatchObject({ code: i === 0 ? 'RP_NETWORK_DENIED' : 'RP_SECRET_UNRESOLVED' });
      }
      expect(foreign.received).toEqual([]);
      // The operator's own URL with the global token still works.
      const fine = await lab.connector(store, partner, { id: 'egress-ok', body, source: 'settle_seconds: 0' });
      const [run] = await lab.pull(store, fine, { runtime: { env } });
      expect(run).toMatchObject({ status: 'succeeded', rowsSent: 1 });
    } finally {
      await foreign.close();
    }
  });

  test('plain http goes to loopback only with the dev flag; a redirect is not followed; an answer is kept short and scrubbed', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    await lab.view(partner, 'egress2', 'id bigint primary key, email text, updated_at timestamptz not null', `values (1, 'a@x.io', now() - interval '1 hour')`);
    const foreign = await listener(() => ({ status: 202, body: '{"data":{"batchId":"x"}}' }));
    const redirecting = await listener(() => ({ status: 307, headers: { location: `${foreign.url}/api/resources/contacts/batch` } }));
    const chatty = await listener(() => ({ status: 400, body: JSON.stringify({ message: `bad request; your token is ${LAB_REACH_TOKEN}; ${'x'.repeat(5000)}` }) }));
    try {
      const body = emailStreamYaml('s').replace('view: v', 'view: v_egress2');
      const connector = await lab.connector(store, partner, { id: 'egress2', body, source: 'settle_seconds: 0' });
      const base = { ...process.env, REACH_API_TOKEN: LAB_REACH_TOKEN };
      await expect(lab.pull(store, connector, { runtime: { env: { ...base, REACH_API_URL: foreign.url, REACH_PULLER_DEV_INSECURE_REACH: '' } } }))
        .rejects.toMatchObject({ code: 'RP_NETWORK_DENIED', message: expect.stringContaining('not https') });
      const [redirected] = await lab.pull(store, connector, { runtime: { env: { ...base, REACH_API_URL: redirecting.url } } });
      expect(redirected).toMatchObject({ status: 'failed', error: expect.objectContaining({ code: 'RP_SINK_REJECTED' }) });
      expect(foreign.received).toEqual([]);
      const [refused] = await lab.pull(store, connector, { runtime: { env: { ...base, REACH_API_URL: chatty.url } } });
      expect(refused!.status).toBe('failed');
      const stored = await store.db.selectFrom('runs').select('error').where('id', '=', refused!.runId).executeTakeFirstOrThrow();
      expect(stored.error!.length).toBeLessThan(600);
      expect(stored.error).not.toContain(LAB_REACH_TOKEN);
    } finally {
      await Promise.all([foreign.close(), redirecting.close(), chatty.close()]);
    }
  });
});
