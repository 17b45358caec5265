/**
 * `npm run screenshots`: the console's pictures in docs/, taken in Chromium (playwright-core,
 * Debian's chromium) from a set-up like the demo's: the demo's embedded partner, a dozen
 * salons registered from connectors/demo/ (the three demo tenants and copies of them), a few
 * pulls with the partner's application writing in between, one backfill, a tenant whose
 * database refuses connections and one whose view is gone. Needs nothing but this checkout.
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';
import { BackgroundBackfills } from '../src/backfill/background-backfills.ts';
import { DEMO_CHANGES_SQL, startDemoPartner } from '../src/demo/demo-partner.ts';
import { createLogger } from '../src/log.ts';
import { Scheduler } from '../src/scheduler/scheduler.ts';
import { buildOpsApi } from '../src/server/ops-api.ts';
import { OpsActions } from '../src/server/ops-actions.ts';
import { PullerMetrics } from '../src/server/puller-metrics.ts';
import { openStore } from '../src/store/open-store.ts';

const TOKEN = 'screenshot-ops-token';
const PORT = 55499;
Object.assign(process.env, {
  REACH_PULLER_ALLOW_PRIVATE_NETWORKS: '127.0.0.0/8',
  REACH_DEMO_PARTNER_PASSWORD: 'demo',
  REACH_PULLER_CONNECTOR_ENV: 'REACH_DEMO_PARTNER_PASSWORD',
});
const log = createLogger({ level: 'error', pretty: false });
const home = await mkdtemp(path.join(os.tmpdir(), 'rp-screenshots-'));
const partner = await startDemoPartner(PORT);
const store = await openStore({ home });
const scheduler = new Scheduler({ db: store.db, log, metrics: new PullerMetrics(), retry: { attempts: 1, baseMs: 10, maxMs: 10 } });
const backfills = new BackgroundBackfills({ store: store.db, log });
const app = buildOpsApi({ db: store.db, scheduler, metrics: new PullerMetrics(), backfills, token: TOKEN, log });
const actions = new OpsActions({ db: store.db, scheduler, backfills, log });
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  await scheduler.start();
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const dir = path.join('connectors', 'demo');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml'));
  const copies = ['glow-salon-042', 'lumen-day-spa', 'oak-street-barbers', 'pearl-nails', 'river-yoga-studio', 'silk-brow-bar', 'urban-fade', 'velvet-lash-lounge', 'willow-wellness'];
  let i = 0;
  for (const file of files) {
    const yaml = (await readFile(path.join(dir, file), 'utf8')).replace(/port: \d+/, `port: ${PORT}`).replace('*/15 * * * *', '*/5 * * * *').replace(/\nschedule:/, '\nlag_objective_seconds: 1800\nschedule:');
    const id = path.basename(file, '.yaml');
    await actions.register(id, yaml);
    for (const copy of copies.slice(i, i + 3)) await actions.register(copy, yaml.replace(/^tenant: .*$/m, `tenant: ${copy}`));
    i += 3;
  }
  await actions.register('willow-wellness', (await readFile(path.join(dir, files[0]!), 'utf8')).replace(/port: \d+/, 'port: 1').replace(/^tenant: .*$/m, 'tenant: willow-wellness'));
  await actions.register('urban-fade', (await readFile(path.join(dir, files[1]!), 'utf8')).replace(/port: \d+/, `port: ${PORT}`).replace(/^tenant: .*$/m, 'tenant: urban-fade').replace('reach.transactions_v', 'reach.payments_v'));
  const ids = ['bella-hair-studio', 'north-cuts-barbers', 'zen-nail-spa', ...copies];
  // A few rounds of pulls with the partner's application writing in between: the run chart has a history.
  for (let round = 0; round < 6; round++) {
    for (const id of ids) await actions.pull(id).catch(() => undefined);
    while (scheduler.running().length > 0) await sleep(100);
    await partner.write(round === 1 ? DEMO_CHANGES_SQL : `update salon.clients set updated_at = now() where client_id % 4 = ${round % 4}`);
    await sleep(1500);
  }
  await actions.startBackfill({ connector: 'north-cuts-barbers', stream: 'customers', from: '2020-01-01' });
  while (backfills.running().length > 0) await sleep(100);

  const page = await browser.newPage({ viewport: { width: 1360, height: 900 }, deviceScaleFactor: 1 });
  await page.goto(`${base}/console/login`);
  await page.fill('input[name=operator]', 'Ada Ops');
  await page.fill('input[name=token]', TOKEN);
  await page.click('button:has-text("Log in")');
  await page.waitForURL(/\/console$/);
  // Two actions for the trail: a pull, and a retry of the quarantine (its rows are still bad: they stay).
  await page.goto(`${base}/console/streams/north-cuts-barbers/customers`);
  await page.click('button:has-text("Pull now")');
  await page.waitForURL(/notice=/);
  while (scheduler.running().length > 0) await sleep(100);
  await page.click('button:has-text("Retry rejects")');
  await page.waitForURL(/notice=/);
  await page.goto(`${base}/console?sort=state`);
  await page.screenshot({ path: 'docs/console-overview.png', fullPage: true });
  await page.goto(`${base}/console/streams/north-cuts-barbers/customers`);
  await page.screenshot({ path: 'docs/console-stream.png', fullPage: true });
  process.stdout.write('wrote docs/console-overview.png and docs/console-stream.png\n');
} finally {
  await browser.close();
  await app.close();
  await backfills.stop();
  await scheduler.stop();
  await store.close();
  await partner.close();
  await rm(home, { recursive: true, force: true });
}
