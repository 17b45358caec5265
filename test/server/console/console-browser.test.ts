/**
 * The console driven in a real Chromium (Debian's `chromium`, started by playwright-core; CI
 * installs it): log in, find the failing tenant and read its error, fix its connector file
 * from the page (a problem shown with its line first, then the connection test and preview),
 * start and cancel a backfill, retry quarantined rows after the partner fixed them; every
 * action shows in the stream's trail. One browser for the file.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll } from 'vitest';
import { customersConnector, customersView } from '../../scheduler/ops-fixtures.ts';
import type { Partner } from '../../helpers/partner.ts';
import { describe, expect, test, type Lab } from '../../fixture.ts';
import { CONSOLE_TOKEN, startConsole, type ConsoleServer } from './console-fixtures.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('ops console in Chromium', () => {
  interface World { server: ConsoleServer; partner: Partner; browser: Browser; page: Page }
  let world: Promise<World> | undefined;
  const worldOf = (lab: Lab) => (world ??= (async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium is not at ${CHROMIUM}: install it (apt-get install -y chromium; .ci/run does) or set CHROMIUM_PATH`);
    }
    const server = await startConsole(lab);
    const partner = await lab.partner('postgres');
    const put = async (id: string, yaml: string) => {
      const res = await fetch(`${server.base}/connectors/${id}`, { method: 'PUT', headers: { authorization: `Bearer ${CONSOLE_TOKEN}`, 'content-type': 'application/yaml' }, body: yaml });
      expect(res.status, await res.text()).toBe(200);
    };
    // A healthy tenant, a tenant whose connector names a port nobody listens on, a slow view to backfill, and one with a bad phone number.
    await customersView(partner, 'bok', 20);
    await put('healthy', customersConnector(partner, 'bok', {}).replace('tenant: tenant-bok', 'tenant: tenant-healthy'));
    await put('broken', customersConnector(partner, 'bok', { port: 1 }).replace('tenant: tenant-bok', 'tenant: tenant-broken'));
    await customersView(partner, 'bslow', 40, 2);
    await put('slow', customersConnector(partner, 'bslow', {}));
    await lab.view(partner, 'brej', 'id bigint primary key, phone text, updated_at timestamptz not null',
      `select g, case when g = 1 then '12' else '415 555 01' || lpad(g::text, 2, '0') end, now() - interval '1 hour' + g * interval '1 second' from generate_series(1, 5) g`);
    await put('rej', `tenant: tenant-rej\n${partner.sourceYaml('  settle_seconds: 0')}\nstreams:
  - { name: people, view: v_brej, schema: contacts, primary_key: [id], cursor: updated_at, reject_threshold: 1, fields: { id: id, phone: { column: phone, transform: [{ phone_e164: { region: US } }] } } }\n`);
    for (const id of ['healthy', 'broken', 'rej']) {
      await fetch(`${server.base}/connectors/${id}/pull`, { method: 'POST', headers: { authorization: `Bearer ${CONSOLE_TOKEN}` } });
    }
    await expect.poll(async () => (await server.store.db.selectFrom('runs').select('status').where('status', '<>', 'running').execute()).length, { timeout: 20_000 }).toBe(3);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    const page = await browser.newPage();
    return { server, partner, browser, page };
  })());
  afterAll(async () => {
    const w = await world?.catch(() => undefined);
    await w?.browser.close();
    await w?.server.close();
  });

  test('logs in, finds the failing tenant and reads its error', async ({ lab }) => {
    const { server, page } = await worldOf(lab);
    await page.goto(`${server.base}/console`);
    expect(page.url()).toMatch(/\/console\/login$/);
    await page.fill('input[name=operator]', 'Ada Ops');
    await page.fill('input[name=token]', CONSOLE_TOKEN);
    await page.click('button:has-text("Log in")');
    await page.waitForURL(/\/console$/);
    expect(page.url()).not.toContain(CONSOLE_TOKEN);
    await expect.poll(() => page.locator('tbody tr').count()).toBe(4);
    await page.selectOption('select[name=state]', 'failing');
    await page.click('button:has-text("Show")');
    const rows = page.locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain('tenant-broken');
    await page.click('tbody tr a:has-text("customers")');
    await page.waitForURL(/\/console\/streams\/broken\/customers$/);
    expect(await page.textContent('#last-error')).toMatch(/RP_SOURCE_UNREACHABLE/);
  });

  test('fixes the broken connector file from the page: its problem shown with a line first, then test, preview, save, pull', async ({ lab }) => {
    const { server, partner, page } = await worldOf(lab);
    await page.goto(`${server.base}/console/connectors/broken/edit`);
    const stored = await page.inputValue('#yaml');
    expect(stored).toMatch(/port: 1\n/);
    expect(stored).toContain('${env:RP_TEST_RO_PASSWORD}');
    const port = /port: (\d+)/.exec(partner.sourceYaml())![1]!;
    await page.fill('#yaml', stored.replace(/port: 1\n/, `port: ${port}\n`).replace('cursor: updated_at', 'cursor: updated_at\n    curser: typo'));
    await page.click('button[value=check]');
    const problems = await page.textContent('#problems');
    expect(problems).toMatch(/line \d+: .*curser/);
    expect(problems).toContain('nothing was saved');
    await page.fill('#yaml', stored.replace(/port: 1\n/, `port: ${port}\n`));
    await page.click('button[value=check]');
    expect(await page.textContent('#valid')).toContain('apply');
    expect(await page.textContent('#test')).toContain('read-only');
    expect(await page.locator('text=Preview of customers').count()).toBe(1);
    await page.click('button[value=save]');
    await page.waitForURL(/\/console\/streams\/broken\/customers\?notice=saved$/);
    await page.click('button:has-text("Pull now")');
    await page.waitForURL(/notice=pull-started/);
    await expect.poll(async () => {
      await page.reload();
      return page.textContent('h1 .badge');
    }, { timeout: 20_000 }).toBe('ok');
    expect(await page.textContent('#trail')).toMatch(/Ada Ops[\s\S]*pull[\s\S]*Ada Ops[\s\S]*connector\.change/);
  });

  test('starts a backfill with a range and cancels it', async ({ lab }) => {
    const { server, page } = await worldOf(lab);
    await page.goto(`${server.base}/console/streams/slow/customers`);
    await page.fill('input[name=from]', '2024-01-01');
    await page.click('button:has-text("Start backfill")');
    await page.waitForURL(/notice=backfill-started/);
    const row = page.locator('tr[data-backfill]').first();
    expect(await row.textContent()).toContain('2024-01-01');
    expect(await row.textContent()).toContain('running');
    await row.locator('button:has-text("Cancel")').click();
    await page.waitForURL(/notice=backfill-cancelled/);
    await expect.poll(async () => {
      await page.reload();
      return page.locator('tr[data-backfill] .badge').first().textContent();
    }, { timeout: 20_000 }).toBe('cancelled');
    expect(await page.textContent('#trail')).toMatch(/backfill\.cancel[\s\S]*ok[\s\S]*backfill\.start/);
  });

  test('retries quarantined rows once the partner fixed them', async ({ lab }) => {
    const { server, partner, page } = await worldOf(lab);
    await page.goto(`${server.base}/console/streams/rej/people`);
    expect(await page.textContent('text=Quarantine (open) >> xpath=following-sibling::table[1]')).toContain('phone');
    await partner.exec(`update t_brej set phone = '415 555 0100' where id = 1`);
    await page.click('button:has-text("Retry rejects")');
    await page.waitForURL(/notice=rejects-retried/);
    expect(await page.textContent('text=Nothing in quarantine.')).toBeTruthy();
    expect(await page.textContent('#trail')).toMatch(/retry-rejects[\s\S]*"resolved":1/);
  });
});
