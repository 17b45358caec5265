/**
 * Review 8c: an ops action (the console's retry-rejects) that waits for a slot of its source
 * while another replica holds them all. Before the change it read at once; now it waits, and
 * `serve` closes its API first on SIGTERM (cli/commands/serve.ts), waiting for requests in flight.
 */
import http from 'node:http';
import type { Hold } from '../../src/store/holds.ts';
import { takeSourceSlot } from '../../src/store/source-slots.ts';
import { customersConnector, customersView, sleep } from '../scheduler/ops-fixtures.ts';
import { registerYaml } from '../helpers/store.ts';
import { login, startConsole } from './console/console-fixtures.ts';
import { describe, expect, test } from '../fixture.ts';

describe('review 8c: ops actions waiting for a slot', () => {
  test('serve\'s API closes in time while a console retry-rejects waits for a slot another replica holds', { timeout: 60_000 }, async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const server = await startConsole(lab);
    const name = lab.unique('ops');
    await customersView(partner, name, 5);
    const connector = await registerYaml(server.store, name,
      customersConnector(partner, name).replace('settle_seconds: 0', 'settle_seconds: 0\n  max_connections: 1'));
    expect(connector.config.source.max_connections).toBe(1);
    const replica = (await lab.storeProcess(server.store, 'replica')).store;
    let held: Hold | undefined = await takeSourceSlot(replica.db, connector.sourceId, 1);
    expect(held).toBeDefined();
    let closed = false;
    let closing: Promise<unknown> | undefined;
    try {
      const { cookie, csrf } = await login(server.base);
      const stream = connector.config.streams[0]!.name;
      // One connection, closed after the answer: a browser's keep-alive would hold the close up on its own (Fastify's keepAliveTimeout).
      const retry = postOnce(`${server.base}/console/streams/${name}/${stream}/retry-rejects`, server.base, cookie, `_csrf=${encodeURIComponent(csrf)}`);
      await sleep(1_500);
      // SIGTERM: serve closes its API first. A request waiting for a slot must not hold that up.
      const started = Date.now();
      closing = server.close().then(() => (closed = true));
      while (!closed && Date.now() - started < 8_000) await sleep(100);
      expect(closed, 'the API did not close within 8 s: the retry waits for the slot with no way to stop').toBe(true);
      await retry;
    } finally {
      await held?.release();
      held = undefined;
      await (closing ?? server.close());
    }
  });
});

/** A same-origin form POST on a connection of its own (Connection: close); answers the status. */
function postOnce(url: string, origin: string, cookie: string, body: string): Promise<number | Error> {
  return new Promise((resolve) => {
    const req = http.request(url, {
      method: 'POST', agent: false,
      headers: { origin, 'sec-fetch-site': 'same-origin', cookie, connection: 'close', 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', resolve);
    req.end(body);
  });
}
