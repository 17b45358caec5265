/**
 * The demo, end to end once: an embedded partner, apply, preview, backfill, changes with a
 * late commit, pulls, status. The records in the store must equal the partner views' valid
 * rows at the end. The partner is the demo's own embedded PGlite, as the product runs it; the
 * state store is the lab's (DATABASE_URL), so this test opens one PGlite instance, the partner's.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll } from 'vitest';
import { runDemo, type DemoResult } from '../../src/demo/run-demo.ts';
import { DEMO_BUSINESSES, DEMO_PARTNER_PORT } from '../../src/demo/demo-partner.ts';
import { openPoolCount } from '../../src/sources/source-pools.ts';
import { describe, expect, test, type Lab } from '../fixture.ts';

const STATUS: Record<string, string> = { completed: 'paid', open: 'unpaid', void: 'cancelled' };

/** A phone the demo's mapping accepts: absent, blank, or ten digits once formatting is gone. */
function dialable(phone: unknown): boolean {
  if (phone === null || String(phone).trim() === '') return true;
  return /^1?\d{10}$/.test(String(phone).replace(/[\s().+-]/g, ''));
}

const DEMO_CONNECTORS = path.resolve(import.meta.dirname, '../../connectors/demo');

/** A port nobody listens on now (the OS's pick, given back at once). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

describe('reach-puller demo', () => {
  let printed = '';
  const saved = process.env.DATABASE_URL;

  /** The demo run once, on a store of the lab: made by the first test that needs it. */
  let demo: Promise<DemoResult> | undefined;
  const demoOf = (lab: Lab) => (demo ??= (async () => {
    process.env.DATABASE_URL = (await lab.store()).url;
    const out = new Writable({ write(chunk, _enc, done) { printed += String(chunk); done(); } });
    // A port of its own, and the demo's connector files aimed at it: a second copy of the suite
    // (or a demo someone is running) holds the default one.
    const partnerPort = await freePort();
    const connectorsDir = await lab.tmpDir();
    for (const file of await readdir(DEMO_CONNECTORS)) {
      const text = await readFile(path.join(DEMO_CONNECTORS, file), 'utf8');
      await writeFile(path.join(connectorsDir, file), text.replaceAll(String(DEMO_PARTNER_PORT), String(partnerPort)));
    }
    return runDemo({ out, partnerPort, connectorsDir });
  })());
  afterAll(() => {
    if (saved === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = saved;
  });

  test('delivers exactly the valid rows of each tenant, at their newest values', { timeout: 120_000 }, async ({ lab }) => {
    const result = await demoOf(lab);
    for (const { businessId, tenant } of DEMO_BUSINESSES) {
      const customers = result.partnerRows.customers.filter((r) => r.business_id === businessId && dialable(r.phone));
      const stored = result.records.get(`${tenant}/customers`)!;
      expect([...stored.keys()].sort()).toEqual(customers.map((r) => String(r.customer_id)).sort());
      for (const c of customers) {
        const email = c.email === null ? undefined : String(c.email).trim().toLowerCase() || undefined;
        expect(stored.get(String(c.customer_id))?.email).toBe(email);
      }
      const sales = result.partnerRows.transactions.filter((r) => r.business_id === businessId && STATUS[String(r.status)]);
      const delivered = result.records.get(`${tenant}/transactions`)!;
      expect(new Map([...delivered].map(([id, r]) => [id, { customer_id: r.customer_id, amount: r.amount, status: r.status }])))
        .toEqual(new Map(sales.map((r) => [String(r.transaction_id), {
          customer_id: String(r.customer_id), amount: Number(r.amount), status: STATUS[String(r.status)],
        }])));
    }
  });

  test('shows the cancellation and the late commit, quarantines the rest, and leaves no pool open', { timeout: 120_000 }, async ({ lab }) => {
    const result = await demoOf(lab);
    expect(result.records.get('bella-hair-studio/transactions')!.get('3')).toMatchObject({ status: 'cancelled' });
    expect(result.records.get('bella-hair-studio/transactions')!.has('2404')).toBe(true);
    expect(result.tenants.reduce((n, t) => n + t.quarantined, 0)).toBe(11);
    for (const heading of ['1. Start', '2. Register', '3. Preview', '4. Backfill', '6. Incremental pull', '8. Where the records went']) {
      expect(printed).toContain(heading);
    }
    expect(openPoolCount()).toBe(0);
  });
});
