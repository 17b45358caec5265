/**
 * The faults a fleet of partner databases produces every week, injected by a TCP proxy in
 * front of the real servers: a partner that stops answering mid-session or never answers a
 * connect, and a connection reset mid-run (a failover, a proxy restart). Each fails its run
 * as a transient error within a bound the puller sets itself, moves no watermark past what
 * was delivered, and the next pull delivers every row.
 */
import mysql from 'mysql2/promise';
import { isTransient } from '../../src/errors.ts';
import { MYSQL_URL } from '../helpers/databases.ts';
import { loadWatermark } from '../../src/store/delivery-state.ts';
import { CURSOR_ALIAS } from '../../src/sources/keyset.ts';
import { withPlannedStream } from '../../src/engine/planned-stream.ts';
import { readRange } from '../../src/engine/range-delivery.ts';
import { readResources } from '../helpers/resources.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { TEST_DIALECTS, type Partner } from '../helpers/partner.ts';
import { describe, expect, test, type Lab, type LabStore } from '../fixture.ts';

const ROWS = 50;
const PAGE = 10;
// statement_timeout_seconds 1 + this margin: the puller's own bound on a silent partner.
process.env.REACH_PULLER_ANSWER_MARGIN_MS = '500';

/** A partner view of ROWS rows read through a fault proxy, in pages of PAGE. */
async function proxiedStream(lab: Lab, partner: Partner, store: LabStore) {
  const name = lab.unique('pf');
  const { table } = await lab.view(partner, name, `id bigint primary key, email varchar(100), updated_at ${partner.types.timestamp} not null`);
  const values = Array.from({ length: ROWS }, (_, i) => `(${i + 1}, 'u${i + 1}@x.io', ${partner.nowMinus(3600 - i)})`);
  await partner.exec(`insert into ${table} values ${values.join(', ')}`);
  const defaultPort = partner.dialect === 'postgres' ? 5432 : 3306;
  const port = Number(/port: (\d+)/.exec(partner.sourceYaml())?.[1] ?? defaultPort);
  const proxy = await startTcpProxy(`http://127.0.0.1:${port}`);
  const proxied = { ...partner, sourceYaml: (extra?: string) => partner.sourceYaml(extra).replace(/port: \d+/, `port: ${proxy.port}`) };
  const connector = await lab.connector(store, proxied, {
    id: name,
    source: 'settle_seconds: 0\nstatement_timeout_seconds: 1\nconnect_timeout_seconds: 1',
    body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: ${PAGE}, fields: { id: id, email: email } }
`,
  });
  const view = async () => (await partner.query<{ id: string | number; email: string }>(`select id, email from v_${name} order by id`))
    .map((r) => ({ id: String(r.id), email: r.email }));
  return { name, proxy, connector, view };
}

async function failedRun(pulling: Promise<{ status: string; error?: Error }[]>, boundMs: number) {
  const started = Date.now();
  const [summary] = await pulling;
  const tookMs = Date.now() - started;
  expect(summary!.status).toBe('failed');
  expect(isTransient(summary!.error), String(summary!.error)).toBe(true);
  expect(tookMs).toBeLessThan(boundMs);
  return summary!;
}

describe.each(TEST_DIALECTS)('partner faults (%s)', (dialect) => {
  test('a slow but steady partner (a thin link) is not cut off: each wait is bounded, not the run', async ({ lab }) => {
    const partner = await lab.partner(dialect);
    const store = await lab.store();
    const { proxy, connector, view } = await proxiedStream(lab, partner, store);
    proxy.setBandwidth(1500);
    const started = Date.now();
    const [summary] = await lab.pull(store, connector);
    const tookMs = Date.now() - started;
    expect(summary, String(summary!.error)).toMatchObject({ status: 'succeeded' });
    // Longer than one answer deadline (1 s + 0.5 s) in all: a bound on the run would have cut it.
    expect(tookMs).toBeGreaterThan(1500);
    expect(await readResources(store.db, connector.tenant, 'contacts')).toEqual(await view());
    await proxy.close();
  });

  test('a partner that goes silent mid-run fails the run as a transient timeout, and the next pull delivers every row', async ({ lab }) => {
    const partner = await lab.partner(dialect);
    const store = await lab.store();
    const { proxy, connector, view } = await proxiedStream(lab, partner, store);
    // Silent from the third page's statement on: the connections stay open, nothing answers.
    proxy.faultWhenClientSends(CURSOR_ALIAS, 'blackHole', 3);
    const summary = await failedRun(lab.pull(store, connector), 15_000);
    expect(summary.error).toMatchObject({ code: 'RP_SOURCE_TIMEOUT' });
    // Two pages reached the store and the watermark stands on the second page's last row, no further.
    expect(await readResources(store.db, connector.tenant, 'contacts')).toEqual((await view()).slice(0, 2 * PAGE));
    expect((await loadWatermark(store.db, { connectorId: connector.id, stream: 'people' }))?.key).toEqual([String(2 * PAGE)]);

    proxy.restore();
    const [again] = await lab.pull(store, connector);
    expect(again).toMatchObject({ status: 'succeeded' });
    expect(await readResources(store.db, connector.tenant, 'contacts')).toEqual(await view());
    await proxy.close();
  });

  test('a partner that never answers a connect fails the run as transient within the connect timeout', async ({ lab }) => {
    const partner = await lab.partner(dialect);
    const store = await lab.store();
    const { proxy, connector, view } = await proxiedStream(lab, partner, store);
    proxy.blackHole();
    await failedRun(lab.pull(store, connector), 15_000);
    expect(await readResources(store.db, connector.tenant, 'contacts')).toEqual([]);
    proxy.restore();
    expect((await lab.pull(store, connector))[0]).toMatchObject({ status: 'succeeded' });
    expect(await readResources(store.db, connector.tenant, 'contacts')).toEqual(await view());
    await proxy.close();
  });

  for (const fault of ['reset', 'close'] as const) {
    test(`a connection ${fault === 'reset' ? 'reset (RST)' : 'closed without a word (FIN: a proxy restart, a failover)'} mid-run is transient, never a reason to park, and the next pull delivers every row`, async ({ lab }) => {
      const partner = await lab.partner(dialect);
      const store = await lab.store();
      const { proxy, connector, view } = await proxiedStream(lab, partner, store);
      proxy.faultWhenClientSends(CURSOR_ALIAS, fault, 3);
      const summary = await failedRun(lab.pull(store, connector), 15_000);
      expect(summary.error).toMatchObject({ code: 'RP_SOURCE_UNREACHABLE' });
      expect(await readResources(store.db, connector.tenant, 'contacts')).toEqual((await view()).slice(0, 2 * PAGE));
      const [again] = await lab.pull(store, connector);
      expect(again).toMatchObject({ status: 'succeeded' });
      expect(await readResources(store.db, connector.tenant, 'contacts')).toEqual(await view());
      await proxy.close();
    });
  }

  test('a page read ahead that fails while the caller still works on the last one reaches the caller at its next page, never as an unhandled rejection (found under load)', async ({ lab }) => {
    const partner = await lab.partner(dialect);
    const store = await lab.store();
    const { proxy, connector } = await proxiedStream(lab, partner, store);
    // The second page's statement is the one read ahead while the caller holds the first.
    proxy.faultWhenClientSends(CURSOR_ALIAS, 'close', 2);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      await withPlannedStream(store.db, connector, 'people', undefined, async (plan, source) => {
        const pages = readRange({ plan, source, pageSize: PAGE });
        expect((await pages.next()).value?.rows).toHaveLength(PAGE);
        // The caller works on the first page (a slow sink) while the read ahead fails.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        const next = await pages.next().then(() => undefined, (error: unknown) => error);
        expect(isTransient(next), String(next)).toBe(true);
      });
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
    await proxy.close();
  });
});

describe.runIf(TEST_DIALECTS.includes('mysql'))('a partner DBA\'s KILL QUERY (MariaDB)', () => {
  test('fails the run as transient (found in review: it parked the stream), and the next pull delivers every row', async ({ lab }) => {
    const partner = await lab.partner('mysql');
    const store = await lab.store();
    const name = lab.unique('kq');
    const { table, view } = await lab.view(partner, name, 'id bigint primary key, email varchar(100), updated_at datetime(6) not null',
      `select seq, concat('u', seq, '@x.io'), utc_timestamp(6) - interval (3600 - seq) second from seq_1_to_20`);
    // Each row costs 0.2 s: the read is still running when the DBA kills it.
    await partner.exec(`create or replace view ${view} as select * from ${table} where sleep(0.2) = 0`);
    await partner.grantReadOnly();
    const connector = await lab.connector(store, partner, {
      id: name, source: 'settle_seconds: 0\nstatement_timeout_seconds: 60',
      body: `streams:
  - { name: people, view: ${view}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 100, fields: { id: id, email: email } }
`,
    });
    const admin = await mysql.createConnection({ uri: MYSQL_URL });
    const killed = (async () => {
      for (let i = 0; i < 100; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const [rows] = await admin.query(
          "select id from information_schema.processlist where user = 'rp_ro' and db = ? and command = 'Query' and time >= 1", [partner.database]);
        const ids = (rows as { id: number }[]).map((r) => r.id);
        for (const id of ids) await admin.query(`KILL QUERY ${id}`);
        if (ids.length > 0) return ids.length;
      }
      return 0;
    })();
    const [summary] = await lab.pull(store, connector);
    expect(await killed).toBeGreaterThan(0);
    await admin.end();
    expect(summary!.status).toBe('failed');
    expect(isTransient(summary!.error), String(summary!.error)).toBe(true);
    expect(await readResources(store.db, connector.tenant, 'contacts')).toEqual([]);

    expect((await lab.pull(store, connector))[0]).toMatchObject({ status: 'succeeded' });
    const rows = await partner.query<{ id: number; email: string }>(`select id, email from ${table} order by id`);
    expect(await readResources(store.db, connector.tenant, 'contacts')).toEqual(rows.map((r) => ({ id: String(r.id), email: r.email })));
  });
});
