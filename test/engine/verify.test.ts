/**
 * `verify` (src/engine/verify.ts): a stream in sync reports nothing; each kind of difference,
 * made on purpose, is found with its key; `--repair` leaves none; rows still settling are not
 * differences; the CLI exits 0 only when nothing differs. `--from`/`--to` keep rows outside
 * out of the scan, the counts, the report and the repair; an integer cursor (beyond 2^53, ties,
 * values of every length); the mass-delete guard refuses a repair's extras.
 */
import { BackgroundBackfills } from '../../src/backfill/background-backfills.ts';
import { Scheduler } from '../../src/scheduler/scheduler.ts';
import { buildOpsApi } from '../../src/server/ops-api.ts';
import { PullerMetrics } from '../../src/server/puller-metrics.ts';
import { verifyConnector, type StreamVerification } from '../../src/engine/verify.ts';
import type { RegisteredConnector } from '../../src/store/connector-registry.ts';
import type { TestDialect } from '../helpers/partner.ts';
import { sql } from 'kysely';
import { TEST_DIALECTS } from '../helpers/partner.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test, type Lab, type LabStore } from '../fixture.ts';

const ROWS = 30;

async function stream(lab: Lab, dialect: TestDialect, sink: 'store' | 'reach') {
  const partner = await lab.partner(dialect);
  const store = await lab.store();
  const reach = sink === 'reach' ? await lab.reachApi() : undefined;
  const name = lab.unique(`v${sink[0]}`);
  const t = partner.types;
  await lab.view(partner, name, `id ${t.bigint} primary key, email ${t.text}, deleted_at ${t.timestamp} null, updated_at ${t.timestamp} not null`);
  const table = `t_${name}`;
  // Older than the settle window, one cursor value shared by three rows so ties meet page ends.
  await partner.exec(...Array.from({ length: ROWS }, (_, i) => i + 1).map((id) =>
    `insert into ${table} values (${id}, 'u${id}@x.io', null, ${partner.nowMinus(3600 - Math.floor(id / 3) * 10)})`));
  const connector = await lab.connector(store, partner, {
    id: name, reach, source: 'settle_seconds: 30',
    body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, deleted: { column: deleted_at }, page_size: 7,
      fields: { id: id, email: email } }
`,
  });
  return { partner, store, reach, connector, table };
}

const verify = async (store: LabStore, connector: RegisteredConnector, repair = false, range: { from?: string; to?: string } = {}): Promise<StreamVerification> =>
  (await verifyConnector({ store: store.db, connector, log: testLog, repair, ...range }))[0]!;

/** Ids of the stream's delivered records by state: live, or deleted. */
async function deliveredIds(store: LabStore, connector: RegisteredConnector, deleted: boolean): Promise<string[]> {
  const rows = await store.db.selectFrom('delivered').select('external_id').where('connector_id', '=', connector.id).where('deleted', '=', deleted).execute();
  return rows.map((r) => r.external_id).sort();
}

// Cursor values of the integer stream: ties everywhere, 5..12 (one digit to two), then beyond 2^53.
const BEYOND = 2n ** 53n;
const seq = (i: number): bigint => (i <= 14 ? 5n + BigInt(Math.floor(i / 2)) : BEYOND + BigInt(Math.floor(i / 2)));

/** A stream keyed by a code whose cursor is a bigint column `seq`; 30 rows c1..c30, delivered. */
async function integerStream(lab: Lab, dialect: TestDialect) {
  const partner = await lab.partner(dialect);
  const store = await lab.store();
  const name = lab.unique('vi');
  const t = partner.types;
  const { table } = await lab.view(partner, name, `code ${dialect === 'postgres' ? 'text' : 'varchar(16)'} primary key, seq ${t.bigint} not null, email ${t.text}`);
  await partner.exec(...Array.from({ length: ROWS }, (_, i) => i + 1).map((i) => `insert into ${table} values ('c${i}', ${seq(i)}, 'u${i}@x.io')`));
  const connector = await lab.connector(store, partner, {
    id: name,
    body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [code], cursor: seq, page_size: 4, fields: { id: code, email: email } }
`,
  });
  expect(await lab.pull(store, connector)).toMatchObject([{ status: 'succeeded', rowsSent: ROWS }]);
  return { partner, store, connector, table };
}

const codes = (f: { examples: string[] }) => [...f.examples].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));

const ids = (f: { examples: string[] }) => [...f.examples].sort((a, b) => Number(a) - Number(b));

for (const dialect of TEST_DIALECTS) {
  describe(`verify on ${dialect}, built-in store`, () => {
    test('in sync: 0; each difference found with its key; repair leaves 0; settling rows are not differences', async ({ lab }) => {
      const { partner, store, connector, table } = await stream(lab, dialect, 'store');
      expect(await lab.pull(store, connector)).toMatchObject([{ status: 'succeeded', rowsSent: ROWS }]);

      const clean = await verify(store, connector);
      expect(clean).toMatchObject({ viewRows: ROWS, delivered: ROWS, differences: 0, rangesDiffering: 0, settling: 0 });
      expect(clean.ranges).toBeGreaterThan(3);

      // A row edited without moving its cursor, and one soft-deleted the same way: stale.
      await partner.exec(`update ${table} set email = 'edited@x.io' where id = 3`, `update ${table} set deleted_at = updated_at where id = 13`);
      // A delivered record altered in the store: its change hash, and the built-in store's record itself.
      await store.db.updateTable('delivered').set({ content_hash: 'tampered' }).where('connector_id', '=', connector.id).where('external_id', '=', '5').execute();
      await store.db.updateTable('resources').set({ body: JSON.stringify({ id: '7', email: 'tampered@x.io' }) })
        .where('tenant_id', '=', connector.tenant).where('external_id', '=', '7').execute();
      // A row deleted from the view: extra.
      await partner.exec(`delete from ${table} where id = 9`);
      // Never delivered: its delivery record lost, and a row inserted behind the watermark.
      await store.db.deleteFrom('delivered').where('connector_id', '=', connector.id).where('external_id', '=', '11').execute();
      await partner.exec(`insert into ${table} values (100, 'old@x.io', null, ${partner.nowMinus(3000)})`);
      // Changed within the settle window: the next pulls read it; not a difference.
      await partner.exec(`update ${table} set email = 'recent@x.io', updated_at = ${partner.nowMinus(0)} where id = 20`);

      const found = await verify(store, connector);
      expect(ids(found.missing)).toEqual(['11', '100']);
      expect(ids(found.stale)).toEqual(['3', '5', '7', '13']);
      expect(ids(found.extra)).toEqual(['9']);
      expect(found).toMatchObject({ settling: 1, ahead: 0, differences: 7, missing: { count: 2 }, stale: { count: 4 }, extra: { count: 1 } });
      const history = await store.db.selectFrom('runs').select(['kind', 'status', 'detail']).where('id', '=', found.runId).executeTakeFirstOrThrow();
      expect(history).toMatchObject({ kind: 'verify', status: 'succeeded', detail: { differences: 7, extra: { count: 1, examples: ['9'] } } });

      const repaired = await verify(store, connector, true);
      expect(repaired.repair).toMatchObject({ sent: 5, deleted: 1, notRepairable: { count: 0 }, reconcile: { deleted: 1 } });
      const after = await verify(store, connector);
      expect(after).toMatchObject({ differences: 0, settling: 1 });
      // What the store holds is the view, but the row still settling.
      const view = await partner.query<{ id: string | number; email: string }>(`select id, email from ${table} where deleted_at is null and id <> 20 order by id`);
      const held = (await readResources(store.db, connector.tenant, 'contacts')).filter((r) => r.id !== '20');
      expect(held).toEqual(view.map((r) => ({ id: String(r.id), email: r.email })));
    }, 120_000);
  });
}

for (const dialect of TEST_DIALECTS) {
  describe(`verify --from/--to and an integer cursor on ${dialect}`, () => {
    test('a time range: rows outside are not examined, counted, reported or repaired', async ({ lab }) => {
      const partner = await lab.partner(dialect);
      const store = await lab.store();
      const name = lab.unique('vr');
      const t = partner.types;
      const { table } = await lab.view(partner, name, `id ${t.bigint} primary key, email ${t.text}, updated_at ${t.timestamp} not null`);
      // Two rows per minute from 2024-01-01 00:00 (UTC): ids 10..21 are the minutes 5..10.
      const at = (id: number) => `'2024-01-01 00:${String(Math.floor(id / 2)).padStart(2, '0')}:00${dialect === 'postgres' ? '+00' : ''}'`;
      await partner.exec(...Array.from({ length: ROWS }, (_, i) => i + 1).map((id) => `insert into ${table} values (${id}, 'u${id}@x.io', ${at(id)})`));
      const connector = await lab.connector(store, partner, {
        id: name,
        body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 3, fields: { id: id, email: email } }
`,
      });
      await lab.pull(store, connector);
      const range = { from: '2024-01-01 00:05:00', to: '2024-01-01T00:10:00Z' };
      expect(await verify(store, connector, false, range)).toMatchObject({ viewRows: 12, delivered: 12, differences: 0 });

      // One of each kind inside the range (11 stale, 12 extra, 14 missing), and outside on both sides.
      await partner.exec(`update ${table} set email = 'edited@x.io' where id in (2, 11, 29)`, `delete from ${table} where id in (3, 12, 27)`);
      await store.db.deleteFrom('delivered').where('connector_id', '=', connector.id).where('external_id', 'in', ['1', '14', '25']).execute();
      const inside = await verify(store, connector, false, range);
      expect({ missing: ids(inside.missing), stale: ids(inside.stale), extra: ids(inside.extra) }).toEqual({ missing: ['14'], stale: ['11'], extra: ['12'] });
      expect(inside).toMatchObject({ viewRows: 11, delivered: 11, differences: 3, settling: 0 });
      // The same through the CLI's flags.
      const env = { DATABASE_URL: store.url, REACH_API_URL: '', REACH_API_TOKEN: '' };
      const cli = await lab.cli(['verify', connector.id, '--from', range.from, '--to', range.to, '--json'], { env });
      expect(cli.code, cli.stderr).toBe(1);
      expect(JSON.parse(cli.stdout)[0]).toMatchObject({ viewRows: 11, differences: 3, missing: { examples: ['14'] }, stale: { examples: ['11'] }, extra: { examples: ['12'] } });

      // A repair of the range leaves the differences outside it alone: extras outside are not deleted.
      expect((await verify(store, connector, true, range)).repair).toMatchObject({ sent: 2, reconcile: { deleted: 1 } });
      expect(await verify(store, connector, false, range)).toMatchObject({ differences: 0 });
      const whole = await verify(store, connector);
      expect({ missing: ids(whole.missing), stale: ids(whole.stale), extra: ids(whole.extra) }).toEqual({ missing: ['1', '25'], stale: ['2', '29'], extra: ['3', '27'] });
      expect(await deliveredIds(store, connector, true)).toEqual(['12']);
    }, 120_000);

    test('an integer cursor: found by key, a range of bigint values, repaired', async ({ lab }) => {
      const { partner, store, connector, table } = await integerStream(lab, dialect);
      const clean = await verify(store, connector);
      expect(clean).toMatchObject({ viewRows: ROWS, delivered: ROWS, differences: 0, rangesDiffering: 0, settling: 0, ahead: 0 });
      expect(clean.ranges).toBeGreaterThan(5);
      // Versions as the store keeps them: the 2^53 + n cursors exact.
      const version = await store.db.selectFrom('delivered').select('version').where('connector_id', '=', connector.id).where('external_id', '=', 'c17').executeTakeFirstOrThrow();
      expect(BigInt(version.version) - 10n ** 39n).toBe(seq(17));

      await partner.exec(`update ${table} set email = 'edited@x.io' where code = 'c3'`, `delete from ${table} where code = 'c20'`,
        `insert into ${table} values ('c99', 7, 'late@x.io')`);
      await store.db.deleteFrom('delivered').where('connector_id', '=', connector.id).where('external_id', '=', 'c25').execute();
      const found = await verify(store, connector);
      expect({ missing: codes(found.missing), stale: codes(found.stale), extra: codes(found.extra) }).toEqual({ missing: ['c25', 'c99'], stale: ['c3'], extra: ['c20'] });

      // Beyond 2^53: c16..c25 (c20 gone from the view, c25's record lost).
      const high = await verify(store, connector, false, { from: String(BEYOND + 8n), to: String(BEYOND + 12n) });
      expect({ missing: codes(high.missing), stale: codes(high.stale), extra: codes(high.extra) }).toEqual({ missing: ['c25'], stale: [], extra: ['c20'] });
      expect(high).toMatchObject({ viewRows: 9, delivered: 9 });
      // Across 9 -> 10: c6..c11, all in sync (c3 and c99 are below).
      expect(await verify(store, connector, false, { from: '8', to: '10' })).toMatchObject({ viewRows: 6, delivered: 6, differences: 0 });

      expect((await verify(store, connector, true)).repair).toMatchObject({ sent: 3, reconcile: { deleted: 1 }, notRepairable: { count: 0 } });
      expect(await verify(store, connector)).toMatchObject({ differences: 0, viewRows: ROWS });
    }, 120_000);
  });
}

describe('the mass-delete guard in verify --repair', () => {
  test('refuses extras above --max-delete-ratio: nothing deleted, exit 1, the reason; --allow-mass-delete deletes them', async ({ lab }) => {
    const { partner, store, connector, table } = await integerStream(lab, 'postgres');
    // A third of the view gone, beside a stale row the repair still sends.
    await partner.exec(`delete from ${table} where seq >= ${BEYOND + 8n} and seq <= ${BEYOND + 12n}`, `update ${table} set email = 'edited@x.io' where code = 'c3'`);
    const env = { DATABASE_URL: store.url, REACH_API_URL: '', REACH_API_TOKEN: '' };
    const refused = await lab.cli(['verify', connector.id, '--repair'], { env });
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stdout).toMatch(/extra 10: /);
    expect(refused.stdout).toMatch(/RP_MASS_DELETE .*10 of 30 delivered records \(33\.3 %\).*limit is 10\.0 %\. Nothing was deleted\..*--allow-mass-delete/);
    expect(await deliveredIds(store, connector, true)).toEqual([]);
    expect((await readResources(store.db, connector.tenant, 'contacts')).length).toBe(ROWS);
    // The guard's refusal is in run history: the reconcile run failed with its code.
    const { rows } = await sql<{ status: string; error_code: string }>`select status, error_code from runs where kind = 'reconcile'`.execute(store.db);
    expect(rows).toEqual([{ status: 'failed', error_code: 'RP_MASS_DELETE' }]);
    expect(await verify(store, connector)).toMatchObject({ differences: 10, extra: { count: 10 }, stale: { count: 0 } });

    const json = await lab.cli(['verify', connector.id, '--repair', '--json'], { env });
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)[0].repair.reconcile).toMatchObject({ deleted: 0, guardTripped: true, error: expect.stringMatching(/^RP_MASS_DELETE /) });

    const allowed = await lab.cli(['verify', connector.id, '--repair', '--allow-mass-delete'], { env });
    expect(allowed.code, allowed.stderr).toBe(0);
    expect((await deliveredIds(store, connector, true)).length).toBe(10);
    expect(await verify(store, connector)).toMatchObject({ differences: 0, viewRows: 20 });
  }, 120_000);
});

describe('verify into the Reach API', () => {
  test('a never-delivered row, a tampered change hash and a row gone from the view are found and repaired', async ({ lab }) => {
    const { partner, store, reach, connector, table } = await stream(lab, 'postgres', 'reach');
    expect(await lab.pull(store, connector)).toMatchObject([{ status: 'succeeded', rowsSent: ROWS }]);
    await reach!.settled();
    expect(await verify(store, connector)).toMatchObject({ differences: 0 });
    await store.db.updateTable('delivered').set({ content_hash: 'tampered' }).where('connector_id', '=', connector.id).where('external_id', '=', '4').execute();
    await partner.exec(`update ${table} set email = 'edited@x.io' where id = 6`, `delete from ${table} where id = 8`,
      `insert into ${table} values (101, 'old@x.io', null, ${partner.nowMinus(3000)})`);
    const found = await verify(store, connector);
    expect({ missing: ids(found.missing), stale: ids(found.stale), extra: ids(found.extra) }).toEqual({ missing: ['101'], stale: ['4', '6'], extra: ['8'] });
    await verify(store, connector, true);
    await reach!.settled();
    expect(await verify(store, connector)).toMatchObject({ differences: 0 });
    const view = await partner.query<{ id: string; email: string }>(`select id::text, email from ${table}`);
    expect(Object.fromEntries(reach!.resources(connector.tenant, 'contacts'))).toEqual(Object.fromEntries(view.map((r) => [r.id, r])));
  }, 120_000);
});

describe('the verify command', () => {
  test('exits 0 in sync, 1 with a difference (named in --json), 0 after --repair', async ({ lab }) => {
    const { partner, store, connector, table } = await stream(lab, 'postgres', 'store');
    await lab.pull(store, connector);
    const env = { DATABASE_URL: store.url, REACH_API_URL: '', REACH_API_TOKEN: '' };
    const clean = await lab.cli(['verify', connector.id, '--json'], { env });
    expect(clean.code, clean.stderr).toBe(0);
    expect(JSON.parse(clean.stdout)[0]).toMatchObject({ differences: 0, viewRows: ROWS });
    await partner.exec(`update ${table} set email = 'edited@x.io' where id = 2`);
    const differs = await lab.cli(['verify', connector.id, '--json'], { env });
    expect(differs.code).toBe(1);
    expect(JSON.parse(differs.stdout)[0]).toMatchObject({ differences: 1, stale: { count: 1, examples: ['2'] } });
    const text = await lab.cli(['verify', connector.id, '--repair'], { env });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/stale 1: 2\n.*repair \(run \d+\): sent 1/s);
    expect((await lab.cli(['verify', connector.id], { env })).code).toBe(0);
  }, 120_000);
});

describe('verify through the ops API', () => {
  test('POST /connectors/{id}/verify answers the reports, keeps them in run history and sets reach_puller_verify_differences', async ({ lab }) => {
    const { partner, store, connector, table } = await stream(lab, 'postgres', 'store');
    await lab.pull(store, connector);
    await partner.exec(`update ${table} set email = 'edited@x.io' where id = 2`);
    const metrics = new PullerMetrics();
    const scheduler = new Scheduler({ db: store.db, log: testLog, metrics, refreshSeconds: 1 });
    const backfills = new BackgroundBackfills({ store: store.db, log: testLog });
    const app = buildOpsApi({ db: store.db, scheduler, metrics, backfills, token: 't0k', log: testLog });
    try {
      const headers = { authorization: 'Bearer t0k' };
      const answer = await app.inject({ method: 'POST', url: `/connectors/${connector.id}/verify`, headers, payload: { wait: true } });
      expect(answer.statusCode, answer.body).toBe(200);
      expect(answer.json()[0]).toMatchObject({ stream: 'people', differences: 1, stale: { count: 1, examples: ['2'] } });
      const runs = (await app.inject({ method: 'GET', url: `/connectors/${connector.id}/runs`, headers })).json();
      expect(runs.items[0]).toMatchObject({ kind: 'verify', status: 'succeeded', detail: { differences: 1, stale: { count: 1 } } });
      const scraped = (await app.inject({ method: 'GET', url: '/metrics', headers })).body;
      expect(scraped).toContain(`reach_puller_verify_differences{tenant="${connector.tenant}",connector="${connector.id}",stream="people",kind="stale"} 1`);
      expect(scraped).toContain(`reach_puller_verify_differences{tenant="${connector.tenant}",connector="${connector.id}",stream="people",kind="missing"} 0`);
      const started = await app.inject({ method: 'POST', url: `/connectors/${connector.id}/verify`, headers, payload: { repair: true } });
      expect(started.statusCode).toBe(202);
      expect(started.json()).toEqual({ connector: connector.id, started: ['people'] });
    } finally {
      await app.close();
      await backfills.stop();
    }
    // The background repair ends in run history; then nothing differs.
    await expect.poll(async () => (await store.db.selectFrom('runs').select('kind').where('kind', '=', 'repair').where('status', '=', 'succeeded').execute()).length, { timeout: 20_000 }).toBe(1);
    await expect.poll(async () => (await store.db.selectFrom('runs').select('id').where('status', '=', 'running').execute()).length, { timeout: 20_000 }).toBe(0);
    // The repair gives its hold back just after recording its run: until then a verify is refused as busy.
    await expect.poll(() => verify(store, connector).then((r) => r.differences, (error: { code?: string }) => error.code), { timeout: 20_000 }).toBe(0);
  }, 60_000);
});
