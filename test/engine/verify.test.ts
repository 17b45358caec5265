/**
 * `verify` (src/engine/verify.ts): a stream in sync reports nothing; each kind of difference,
 * made on purpose, is found with its key; `--repair` leaves none; rows still settling are not
 * differences; the CLI exits 0 only when nothing differs.
 */
import { BackgroundBackfills } from '../../src/backfill/background-backfills.ts';
import { Scheduler } from '../../src/scheduler/scheduler.ts';
import { buildOpsApi } from '../../src/server/ops-api.ts';
import { PullerMetrics } from '../../src/server/puller-metrics.ts';
import { verifyConnector, type StreamVerification } from '../../src/engine/verify.ts';
import type { RegisteredConnector } from '../../src/store/connector-registry.ts';
import type { TestDialect } from '../helpers/partner.ts';
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

const verify = async (store: LabStore, connector: RegisteredConnector, repair = false): Promise<StreamVerification> =>
  (await verifyConnector({ store: store.db, connector, log: testLog, repair }))[0]!;

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
    expect(await verify(store, connector)).toMatchObject({ differences: 0 });
  }, 60_000);
});
