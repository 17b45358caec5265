/**
 * The console's walls over plain HTTP: nothing but the login form without a session (pages
 * redirect to it, actions are refused), no action from a forged cross-site request or a form
 * without the session's CSRF token, and none of them changes anything or reaches the trail.
 * The login checks the token and sets a cookie scripts cannot read nor other sites send; pages
 * carry a strict CSP, escape what partners and operators wrote, and never show a secret.
 */
import { afterAll } from 'vitest';
import { sql } from 'kysely';
import { RO_PASSWORD } from '../../helpers/partner.ts';
import { customersConnector, customersView } from '../../scheduler/ops-fixtures.ts';
import { describe, expect, test, type Lab } from '../../fixture.ts';
import { CONSOLE_TOKEN, login, send, startConsole, type ConsoleServer } from './console-fixtures.ts';

describe('ops console security', () => {
  let server: Promise<ConsoleServer> | undefined;
  const serverOf = (lab: Lab) => (server ??= (async () => {
    const s = await startConsole(lab);
    const partner = await lab.partner('postgres');
    await customersView(partner, 'sec', 5);
    const yaml = customersConnector(partner, 'sec', {});
    expect((await fetch(`${s.base}/connectors/sec`, { method: 'PUT', headers: { authorization: `Bearer ${CONSOLE_TOKEN}`, 'content-type': 'application/yaml' }, body: yaml })).status).toBe(200);
    return s;
  })());
  afterAll(async () => (await server?.catch(() => undefined))?.close());
  const bodies: string[] = [];
  const keep = <T extends { text: string }>(a: T) => (bodies.push(a.text), a);

  // Every state-changing route of the console, with a form that would work in a session.
  const ACTIONS: [string, Record<string, string>][] = [
    ['/console/streams/sec/customers/pull', {}],
    ['/console/streams/sec/customers/unpark', {}],
    ['/console/streams/sec/customers/retry-rejects', {}],
    ['/console/streams/sec/customers/backfills', { from: '', to: '' }],
    ['/console/streams/sec/customers/backfills/1/cancel', {}],
    ['/console/streams/sec/customers/backfills/1/resume', {}],
    ['/console/streams/sec/customers/reset/confirm', { cursor: '2024-01-01', key: '[]' }],
    ['/console/streams/sec/customers/reset', { cursor: '2030-01-01T00:00:00.000000Z', key: '[]' }],
    ['/console/connectors', { id: 'sec2', yaml: 'tenant: x', intent: 'save' }],
    ['/console/logout', {}],
  ];

  async function nothingHappened(s: ConsoleServer): Promise<void> {
    const runs = await sql<{ n: string }>`select count(*) as n from runs`.execute(s.store.db);
    expect(runs.rows[0]!.n).toBe('0');
    expect(await s.store.db.selectFrom('backfills').selectAll().execute()).toEqual([]);
    expect(await s.store.db.selectFrom('operator_actions').selectAll().execute()).toEqual([]);
    expect(await s.store.db.selectFrom('stream_state').selectAll().execute()).toEqual([]);
    expect((await s.store.db.selectFrom('connectors').select('id').execute()).map((c) => c.id)).toEqual(['sec']);
  }

  test('without a session: pages lead to the login form, every action is refused', async ({ lab }) => {
    const s = await serverOf(lab);
    for (const path of ['/console', '/console/streams/sec/customers', '/console/connectors/new', '/console/connectors/sec/edit']) {
      const answer = keep(await send(s.base, 'GET', path));
      expect(answer.status, path).toBe(303);
      expect(answer.headers.get('location')).toBe('/console/login');
    }
    for (const [path, form] of ACTIONS) {
      expect(keep(await send(s.base, 'POST', path, { form })).status, path).toBe(401);
      // A cookie someone made up, and a real one with its signature changed, are no session.
      expect(keep(await send(s.base, 'POST', path, { form, cookie: 'rp_console=eyJvcGVyYXRvciI6Im1hbGxvcnkifQ.AAAA' })).status, path).toBe(401);
    }
    const { cookie, csrf } = await login(s.base);
    const tampered = cookie.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    expect(keep(await send(s.base, 'POST', ACTIONS[0]![0], { form: { _csrf: csrf }, cookie: tampered })).status).toBe(401);
    // The ops API's bearer token is no console session, and a console session no bearer token.
    expect(keep(await send(s.base, 'GET', '/console', { headers: { authorization: `Bearer ${CONSOLE_TOKEN}` } })).status).toBe(303);
    expect(keep(await send(s.base, 'GET', '/status', { cookie })).status).toBe(401);
    await nothingHappened(s);
  });

  test('with a session: a forged cross-site request, or a form without the CSRF token, is refused', async ({ lab }) => {
    const s = await serverOf(lab);
    const { cookie, csrf } = await login(s.base);
    const forged: [string, Record<string, string>][] = [
      ['another site in Origin', { origin: 'https://evil.example', 'sec-fetch-site': '' }],
      ['Sec-Fetch-Site cross-site', { 'sec-fetch-site': 'cross-site', origin: '' }],
      ['Sec-Fetch-Site same-site (a sibling host)', { 'sec-fetch-site': 'same-site' }],
      ['no Origin at all', { origin: '', 'sec-fetch-site': '' }],
      ['another site in Referer', { origin: '', 'sec-fetch-site': '', referer: 'https://evil.example/page' }],
    ];
    for (const [path, form] of ACTIONS) {
      for (const [what, headers] of forged) {
        const answer = keep(await send(s.base, 'POST', path, { form: { ...form, _csrf: csrf }, cookie, headers }));
        expect(answer.status, `${path}: ${what}`).toBe(403);
        expect(answer.text).toContain('cross-site');
      }
      expect(keep(await send(s.base, 'POST', path, { form, cookie })).status, `${path} without a token`).toBe(403);
      expect(keep(await send(s.base, 'POST', path, { form: { ...form, _csrf: `${csrf}x` }, cookie })).status, `${path} with a wrong token`).toBe(403);
      // Another session's token is not this one's.
      const other = await login(s.base, 'Other');
      expect(keep(await send(s.base, 'POST', path, { form: { ...form, _csrf: other.csrf }, cookie })).status).toBe(403);
    }
    // The login form itself is not forgeable from elsewhere (a login CSRF would file actions under another name).
    expect(keep(await send(s.base, 'POST', '/console/login', { form: { operator: 'x', token: CONSOLE_TOKEN }, headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' } })).status).toBe(403);
    await nothingHappened(s);
    // The same form with the token and from this origin works: the refusals above were the walls, not a broken route.
    expect(keep(await send(s.base, 'POST', '/console/streams/sec/customers/reset/confirm', { form: { cursor: '2024-01-01', key: '[]', _csrf: csrf }, cookie })).status).toBe(200);
  });

  test('login: a wrong token is refused; the session cookie is HttpOnly, SameSite=Strict, scoped to /console; pages carry a strict CSP', async ({ lab }) => {
    const s = await serverOf(lab);
    const wrong = keep(await send(s.base, 'POST', '/console/login', { form: { operator: 'Eve', token: 'guess' } }));
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    expect(keep(await send(s.base, 'POST', '/console/login', { form: { operator: '<b>', token: CONSOLE_TOKEN } })).status).toBe(400);
    const ok = keep(await send(s.base, 'POST', '/console/login', { form: { operator: 'Ann', token: CONSOLE_TOKEN } }));
    expect(ok.status).toBe(303);
    const setCookie = ok.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).toMatch(/Path=\/console/);
    expect(setCookie).not.toMatch(/Secure/); // plain http on loopback; over https it is Secure
    const page = keep(await send(s.base, 'GET', '/console', { cookie: setCookie.split(';')[0]! }));
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/script-src 'nonce-[^']+'/);
    expect(csp).toMatch(/frame-ancestors 'none'/);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(page.headers.get('cache-control')).toBe('no-store');
  });

  test('behind a TLS-terminating proxy (X-Forwarded-Proto: https) the session cookie is Secure: a later plain-http request never carries it', async ({ lab }) => {
    const s = await serverOf(lab);
    const ok = keep(await send(s.base, 'POST', '/console/login', { form: { operator: 'Ann', token: CONSOLE_TOKEN }, headers: { 'x-forwarded-proto': 'https' } }));
    expect(ok.status).toBe(303);
    expect(ok.headers.get('set-cookie')).toMatch(/; Secure/);
    // The header can only make the cookie stricter: without it, on plain http, none is claimed.
    const plain = keep(await send(s.base, 'POST', '/console/login', { form: { operator: 'Ann', token: CONSOLE_TOKEN }, headers: { 'x-forwarded-proto': 'http' } }));
    expect(plain.headers.get('set-cookie')).not.toMatch(/Secure/);
  });

  test('pages escape what partners and operators wrote, mask quarantined values, and show no secret', async ({ lab }) => {
    const s = await serverOf(lab);
    const { cookie, csrf } = await login(s.base, "O'Brien");
    await s.store.db.updateTable('streams').set({ parked_reason: 'RP_SOURCE_AUTH: <img src=x onerror=alert(1)>' }).where('connector_id', '=', 'sec').execute();
    await s.store.db.insertInto('rejected_records').values({
      run_id: null, tenant_id: 'tenant-sec', connector_id: 'sec', stream: 'customers', external_id: 'jane.doe@example.com',
      source_key: JSON.stringify(['4711']), source_cursor: null, fields: JSON.stringify(['email']), reason: 'email: "jane.doe@example.com" is not allowed',
    } as never).execute();
    const page = keep(await send(s.base, 'GET', '/console/streams/sec/customers', { cookie }));
    expect(page.status).toBe(200);
    expect(page.text).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(page.text).not.toContain('<img');
    expect(page.text).not.toContain('jane.doe@example.com');
    expect(page.text).not.toContain('4711');
    expect(page.text).toContain('j••••••••m (20)');
    await s.store.db.updateTable('streams').set({ parked_reason: null }).where('connector_id', '=', 'sec').execute();
    await s.store.db.deleteFrom('rejected_records').execute();
    // A connector pasted with its password written out: refused with its line, and the password is not put back on the page.
    const yaml = (await send(s.base, 'GET', '/console/connectors/sec/edit', { cookie })).text;
    expect(yaml).toContain('${env:RP_TEST_RO_PASSWORD}');
    const pasted = `tenant: tenant-sec2\n${(await lab.partner('postgres')).sourceYaml()}\nstreams: []\n`.replace('${env:RP_TEST_RO_PASSWORD}', RO_PASSWORD);
    const refused = keep(await send(s.base, 'POST', '/console/connectors', { cookie, form: { _csrf: csrf, id: 'sec2', yaml: pasted, intent: 'check' } }));
    expect(refused.status).toBe(400);
    expect(refused.text).toMatch(/line \d+: <code>source\.password<\/code>/);
    expect(refused.text).toContain('removed: write a ${secret:NAME} reference');
    expect(await s.store.db.selectFrom('connectors').select('id').where('id', '=', 'sec2').execute()).toEqual([]);
    for (const body of bodies) {
      expect(body).not.toContain(RO_PASSWORD);
      expect(body).not.toContain(CONSOLE_TOKEN);
    }
  });
});
