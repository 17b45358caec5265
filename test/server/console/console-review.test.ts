/**
 * Review rv17 of the ops console (issue 17), against the real PostgreSQL and MariaDB partners.
 * Each test states what the console should do and fails on the code as reviewed.
 */
import { afterAll } from 'vitest';
import { loadWatermark, saveWatermark } from '../../../src/store/delivery-state.ts';
import { customersConnector, customersView, waitFor } from '../../scheduler/ops-fixtures.ts';
import { describe, expect, test, type Lab } from '../../fixture.ts';
import { CONSOLE_TOKEN, login, send, startConsole, type ConsoleServer } from './console-fixtures.ts';

const PLAINTEXT = 'Pl4in-Hunter2-Zq9x';

describe('ops console review rv17', () => {
  let server: Promise<ConsoleServer> | undefined;
  const serverOf = (lab: Lab) => (server ??= (async () => {
    const s = await startConsole(lab);
    const pg = await lab.partner('postgres');
    await customersView(pg, 'rv', 5);
    const my = await lab.partner('mysql');
    await my.exec(
      `create table t_rvm (id bigint primary key, email varchar(100), updated_at ${my.types.timestamp} not null)`,
      `insert into t_rvm values (1,'u1@example.com','2024-01-01 00:00:01'),(2,'u2@example.com','2024-01-01 00:00:02'),(3,'u3@example.com','2024-01-01 00:00:03')`,
      'create view v_rvm as select id, email, updated_at from t_rvm',
    );
    await my.grantReadOnly();
    for (const [id, yaml] of [['rv', customersConnector(pg, 'rv', {})], ['rvm', customersConnector(my, 'rvm', {})]] as const) {
      const put = await fetch(`${s.base}/connectors/${id}`, { method: 'PUT', headers: { authorization: `Bearer ${CONSOLE_TOKEN}`, 'content-type': 'application/yaml' }, body: yaml });
      expect(put.status, await put.text()).toBe(200);
    }
    return s;
  })());
  afterAll(async () => (await server?.catch(() => undefined))?.close());

  // docs/console.md: "A pasted file with a password or token written out is refused with its line, and the
  // value is not put back into the text area." redactWrittenSecrets (pages/connector.ts) only knows
  // `password: value` at the start of a line; JSON (the file picker accepts .json), flow maps and block scalars pass.
  test('a password written out in JSON, a flow map or a block scalar is not put back on the page', async ({ lab }) => {
    const s = await serverOf(lab);
    const { cookie, csrf } = await login(s.base);
    const pg = await lab.partner('postgres');
    const good = customersConnector(pg, 'rv', {}).replace('tenant: tenant-rv', 'tenant: tenant-rv\nid: leak1');
    const spellings: [string, string][] = [
      ['JSON', JSON.stringify({ id: 'leak1', tenant: 't', source: { dialect: 'postgres', host: '127.0.0.1', database: 'd', user: 'u', password: PLAINTEXT }, streams: [] }, null, 2)],
      ['flow map', `id: leak1\ntenant: t\nsource: { dialect: postgres, host: 127.0.0.1, database: d, user: u, password: ${PLAINTEXT} }\nstreams: []\n`],
      ['block scalar', good.replace(/password: .*/, `password: |\n    ${PLAINTEXT}`)],
      ['quoted key', good.replace(/password: .*/, `"password": ${PLAINTEXT}`)],
    ];
    const leaked: string[] = [];
    for (const [what, yaml] of spellings) {
      const answer = await send(s.base, 'POST', '/console/connectors', { cookie, form: { _csrf: csrf, id: 'leak1', yaml, intent: 'check' } });
      expect(answer.status, what).toBe(400);
      expect(answer.text, `${what}: refused as a plaintext password`).toMatch(/source\.password/);
      if (answer.text.includes(PLAINTEXT)) leaked.push(what);
    }
    expect(leaked, 'spellings whose written-out password is put back on the page').toEqual([]);
  });

  // A reset confirmation shows "Now: A"; a pull moves the watermark to B; the confirmation's button then
  // applies the reset from B, a move the operator never saw (e.g. forward became back). The confirm form
  // carries no expected old position, so stale confirmations cannot be refused.
  test('a stale reset confirmation (the watermark moved since it was shown) is refused', async ({ lab }) => {
    const s = await serverOf(lab);
    const { cookie, csrf } = await login(s.base);
    const ref = { connectorId: 'rvm', stream: 'customers' };
    await saveWatermark(s.store.db, ref, { cursor: '2020-01-01 00:00:00.000000', key: ['1'] });
    const confirm = await send(s.base, 'POST', '/console/streams/rvm/customers/reset/confirm', { cookie, form: { _csrf: csrf, cursor: '2022-06-01 00:00:00.000000', key: '["3"]' } });
    expect(confirm.status).toBe(200);
    expect(confirm.text).toContain('2020-01-01 00:00:00.000000');
    // What the confirmation's own form sends.
    const form = Object.fromEntries([...confirm.text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)]
      .map((m) => [m[1]!, m[2]!.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&')]));
    // Meanwhile a pull moved the watermark past the position the operator chose.
    const moved = { cursor: '2024-01-01 00:00:00.000000', key: ['9'] };
    await saveWatermark(s.store.db, ref, moved);
    const reset = await send(s.base, 'POST', '/console/streams/rvm/customers/reset', { cookie, form });
    expect(reset.status, 'a confirmation of "from 2020-01-01" applied from 2024-01-01').toBe(409);
    expect(await loadWatermark(s.store.db, ref)).toEqual(moved);
  });

  // stream-actions.ts: cancel/resume take the backfill id alone; the :connector/:stream of the URL are
  // never checked against the backfill's, so the action runs and the trail files it under another stream.
  test('a backfill cannot be cancelled through another stream\'s URL (nor filed in its trail)', async ({ lab }) => {
    const s = await serverOf(lab);
    const { cookie, csrf } = await login(s.base, 'Mallory');
    const started = await send(s.base, 'POST', '/console/streams/rvm/customers/backfills', { cookie, form: { _csrf: csrf, from: '', to: '' } });
    expect(started.status, started.text.slice(0, 500)).toBe(303);
    const [b] = await s.store.db.selectFrom('backfills').select(['id', 'status']).where('connector_id', '=', 'rvm').orderBy('id', 'desc').execute();
    await waitFor('backfill ends', async () => (await s.store.db.selectFrom('backfills').select('status').where('id', '=', b!.id).executeTakeFirstOrThrow()).status !== 'running');
    await s.store.db.updateTable('backfills').set({ status: 'failed' }).where('id', '=', b!.id).execute();
    const cancel = await send(s.base, 'POST', `/console/streams/rv/customers/backfills/${b!.id}/cancel`, { cookie, form: { _csrf: csrf } });
    const trail = await s.store.db.selectFrom('operator_actions').select(['connector_id', 'action', 'outcome']).where('action', '=', 'backfill.cancel').execute();
    const status = (await s.store.db.selectFrom('backfills').select('status').where('id', '=', b!.id).executeTakeFirstOrThrow()).status;
    expect({ httpStatus: cancel.status, backfill: status, trailUnderRv: trail.filter((t) => t.connector_id === 'rv') })
      .toEqual({ httpStatus: 404, backfill: 'failed', trailUnderRv: [{ connector_id: 'rv', action: 'backfill.cancel', outcome: 'RP_NOT_FOUND' }] });
  });

  // @fastify/formbody parses a repeated field as an array; `.trim()` on it throws a TypeError, answered
  // 500 "internal error" and logged as a server failure, instead of 400.
  test('a repeated form field is a bad request, not an internal error', async ({ lab }) => {
    const s = await serverOf(lab);
    const { cookie, csrf } = await login(s.base);
    const form = (fields: [string, string][]) => fetch(`${s.base}${fields[0]![0]}`, {
      method: 'POST', redirect: 'manual',
      headers: { origin: s.base, 'sec-fetch-site': 'same-origin', cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields.slice(1)).toString(),
    });
    const cases: [string, string][][] = [
      [['/console/login', ''], ['operator', 'a'], ['operator', 'b'], ['token', CONSOLE_TOKEN]],
      [['/console/streams/rv/customers/backfills', ''], ['_csrf', csrf], ['from', '2020-01-01'], ['from', '2021-01-01']],
      [['/console/streams/rv/customers/reset/confirm', ''], ['_csrf', csrf], ['cursor', 'a'], ['cursor', 'b']],
      [['/console/connectors', ''], ['_csrf', csrf], ['id', 'x'], ['yaml', 'a'], ['yaml', 'b']],
    ];
    for (const c of cases) expect((await form(c)).status, c[0]![0]).toBe(400);
    // The overview's search, repeated in a link.
    expect((await send(s.base, 'GET', '/console?tenant=a&tenant=b', { cookie })).status, '/console?tenant=a&tenant=b').toBe(400);
  });

  // docs/console.md: "Each action, refused or failed ones too, is a row of operator_actions". A reset whose
  // key is not a JSON array is refused before ctx.act, so the trail never hears of it.
  test('a refused reset (bad key) is in the trail', async ({ lab }) => {
    const s = await serverOf(lab);
    const { cookie, csrf } = await login(s.base, 'Refused Reset');
    const answer = await send(s.base, 'POST', '/console/streams/rv/customers/reset', { cookie, form: { _csrf: csrf, cursor: '2021-01-01', key: 'not json' } });
    expect(answer.status).toBe(400);
    const rows = await s.store.db.selectFrom('operator_actions').select(['operator', 'action', 'outcome']).where('operator', '=', 'Refused Reset').execute();
    expect(rows).toEqual([{ operator: 'Refused Reset', action: 'reset', outcome: 'RP_CONFIG_INVALID' }]);
  });

  // The connector page's Check connects to the partner with the pasted credentials and previews its rows
  // (masked), with no row in operator_actions: a read of partner data nobody can see was done.
  test('a connection test and preview from the connector page is in the trail', async ({ lab }) => {
    const s = await serverOf(lab);
    const { cookie, csrf } = await login(s.base, 'Checker');
    const my = await lab.partner('mysql');
    const yaml = customersConnector(my, 'rvm', {}).replace('tenant: tenant-rvm', 'tenant: tenant-rvm\nid: chk');
    const answer = await send(s.base, 'POST', '/console/connectors', { cookie, form: { _csrf: csrf, id: 'chk', yaml, intent: 'check' } });
    expect(answer.status, answer.text.slice(0, 800)).toBe(200);
    expect(answer.text).toContain('id="test"');
    const rows = await s.store.db.selectFrom('operator_actions').select(['operator', 'connector_id']).where('operator', '=', 'Checker').execute();
    expect(rows.length, 'the check (connection test + preview of partner rows) is recorded').toBeGreaterThan(0);
  });

  // maskReason (views.ts) masks "quoted" values whose text holds no quote at all. The mapper quotes values
  // with JSON.stringify: a name with an apostrophe (O'Brien) is shown whole, an embedded " leaks the tail.
  test('quarantine reasons: values holding a quote are masked too', async ({ lab }) => {
    const s = await serverOf(lab);
    const { cookie } = await login(s.base);
    const reasons = [
      `last_name: ${JSON.stringify("O'Brien-Smythe")} is not one of the mapped values (a, b)`,
      `email: ${JSON.stringify('jane"doe.private@example.com')} is not a timestamp (YYYY-MM-DD[ HH:MM:SS[.fraction]][Z])`,
    ];
    for (const [i, reason] of reasons.entries()) {
      await s.store.db.insertInto('rejected_records').values({
        run_id: null, tenant_id: 'tenant-rv', connector_id: 'rv', stream: 'customers', external_id: `x${i}-0000`,
        source_key: JSON.stringify([String(900 + i)]), source_cursor: null, fields: JSON.stringify(['f']), reason,
      } as never).execute();
    }
    try {
      const page = await send(s.base, 'GET', '/console/streams/rv/customers', { cookie });
      expect(page.status).toBe(200);
      const shown = ["Brien-Smythe", 'doe.private@example.com'].filter((v) => page.text.includes(v));
      expect(shown, 'personal values shown in full on the stream page').toEqual([]);
    } finally {
      await s.store.db.deleteFrom('rejected_records').where('connector_id', '=', 'rv').execute();
    }
  });

  // Double-submit of "Start backfill" (a double click, a resent form): two backfills of the same range run
  // at once against the partner; nothing refuses the second while the first runs.
  test('a second backfill of a stream is refused while one runs (double-submit)', async ({ lab }) => {
    const s = await serverOf(lab);
    const { cookie, csrf } = await login(s.base, 'Double Click');
    const pg = await lab.partner('postgres');
    await customersView(pg, 'rvs', 20, 1);
    const put = await fetch(`${s.base}/connectors/rvs`, { method: 'PUT', headers: { authorization: `Bearer ${CONSOLE_TOKEN}`, 'content-type': 'application/yaml' }, body: customersConnector(pg, 'rvs', { pageSize: 5 }) });
    expect(put.status).toBe(200);
    const start = () => send(s.base, 'POST', '/console/streams/rvs/customers/backfills', { cookie, form: { _csrf: csrf, from: '', to: '' } });
    const answers = await Promise.all([start(), start()]);
    const rows = await s.store.db.selectFrom('backfills').select(['id', 'status']).where('connector_id', '=', 'rvs').execute();
    try {
      expect({ statuses: answers.map((a) => a.status).sort(), backfills: rows.length }).toEqual({ statuses: [303, 409], backfills: 1 });
    } finally {
      for (const r of rows) await s.store.db.updateTable('backfills').set({ status: 'cancelled' }).where('id', '=', r.id).execute().catch(() => undefined);
    }
  });

  // The same rule without a race (added with the fix): a stream whose backfill is marked running (started
  // earlier, from the API or another replica) gets no second one; the page's form says why.
  test('a backfill is refused while the stream has one running (started earlier)', async ({ lab }) => {
    const s = await serverOf(lab);
    const { cookie, csrf } = await login(s.base, 'Second Start');
    const { id } = await s.store.db.insertInto('backfills').values({ connector_id: 'rv', stream: 'customers', status: 'running', checkpoint_rows: 5000 } as never)
      .returning('id').executeTakeFirstOrThrow();
    try {
      const answer = await send(s.base, 'POST', '/console/streams/rv/customers/backfills', { cookie, form: { _csrf: csrf, from: '', to: '' } });
      expect(answer.status).toBe(409);
      expect(answer.text).toContain(`backfill ${id} of rv/customers is running`);
      const rows = await s.store.db.selectFrom('backfills').select('id').where('connector_id', '=', 'rv').execute();
      expect(rows.map((r) => r.id)).toEqual([id]);
    } finally {
      await s.store.db.updateTable('backfills').set({ status: 'cancelled' }).where('id', '=', id).execute();
    }
  });

  // "Pull now" while the stream runs is skipped (the page says so), but the trail files it as outcome "ok"
  // with no detail: whoever reads the trail believes a pull was started.
  test('a skipped "Pull now" is not filed as ok in the trail', async ({ lab }) => {
    const s = await serverOf(lab);
    const { cookie, csrf } = await login(s.base, 'Impatient');
    const pg = await lab.partner('postgres');
    await customersView(pg, 'rvp', 20, 1);
    const put = await fetch(`${s.base}/connectors/rvp`, { method: 'PUT', headers: { authorization: `Bearer ${CONSOLE_TOKEN}`, 'content-type': 'application/yaml' }, body: customersConnector(pg, 'rvp', { pageSize: 5 }) });
    expect(put.status).toBe(200);
    const first = await send(s.base, 'POST', '/console/streams/rvp/customers/pull', { cookie, form: { _csrf: csrf } });
    const second = await send(s.base, 'POST', '/console/streams/rvp/customers/pull', { cookie, form: { _csrf: csrf } });
    expect(first.headers.get('location')).toContain('notice=pull-started');
    expect(second.headers.get('location')).toContain('notice=pull-skipped');
    const trail = await s.store.db.selectFrom('operator_actions').select(['outcome', 'detail']).where('operator', '=', 'Impatient').orderBy('id').execute();
    expect(trail).toHaveLength(2);
    expect(trail[1]!.outcome === 'ok' && JSON.stringify(trail[1]!.detail) === '{}', 'the skipped pull is filed as a plain "ok"').toBe(false);
  });

  // A backfill's from/to are checked against the stream's cursor kind (RP_CONFIG_INVALID, "--from: "garbage" is
  // not a date or time"); a reset's cursor is not, neither on the confirmation nor on apply. A typo is confirmed,
  // saved, and the next pull parks the stream on the partner's "invalid input syntax" (MariaDB: a wrong compare).
  test('a reset to a cursor that is not of the stream\'s kind is refused before anything is written', async ({ lab }) => {
    const s = await serverOf(lab);
    const { cookie, csrf } = await login(s.base);
    const ref = { connectorId: 'rv', stream: 'customers' };
    const before = { cursor: '2024-01-01T00:00:02.000000Z', key: ['2'] };
    await saveWatermark(s.store.db, ref, before);
    const confirm = await send(s.base, 'POST', '/console/streams/rv/customers/reset/confirm', { cookie, form: { _csrf: csrf, cursor: '2024-31-12 garbage', key: '[]' } });
    const reset = await send(s.base, 'POST', '/console/streams/rv/customers/reset', { cookie, form: { _csrf: csrf, cursor: '2024-31-12 garbage', key: '[]' } });
    const after = await loadWatermark(s.store.db, ref);
    await saveWatermark(s.store.db, ref, before);
    expect({ confirm: confirm.status, reset: reset.status, watermark: after }).toEqual({ confirm: 400, reset: 400, watermark: before });
  });

  // notices.ts: "a fixed list, so a link cannot put words of its own on a console page". NOTICES is a plain
  // object: ?notice=constructor puts "function Object() { [native code] }" on the page.
  test('a notice outside the fixed list shows nothing', async ({ lab }) => {
    const s = await serverOf(lab);
    const { cookie } = await login(s.base);
    for (const path of ['/console?notice=constructor', '/console/streams/rv/customers?notice=toString']) {
      const page = await send(s.base, 'GET', path, { cookie });
      expect(page.status).toBe(200);
      expect(page.text, path).not.toContain('class="notice"');
    }
  });
});
