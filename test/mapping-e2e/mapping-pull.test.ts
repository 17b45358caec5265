/**
 * Mapping end to end on real PostgreSQL and MariaDB views into the built-in store: exact
 * types, quarantine and the reject threshold, change detection, soft and hard deletes,
 * retry-rejects, preview and a transaction's status change.
 */
import type { RunSummary } from '../../src/engine/run-stream.ts';
import { previewStream } from '../../src/engine/preview.ts';
import { reconcileStream } from '../../src/engine/reconcile.ts';
import { GONE_NOTE, retryRejects } from '../../src/engine/retry-rejects.ts';
import type { PullerError } from '../../src/errors.ts';
import { listRejections, loadWatermark, saveWatermark } from '../../src/store/delivery-state.ts';
import type { RegisteredConnector } from '../../src/store/connector-registry.ts';
import { registerSchemaDefinitions } from '../../src/store/schema-registry.ts';
import { TEST_DIALECTS, type Partner } from '../helpers/partner.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test, type Lab, type LabStore } from '../fixture.ts';

for (const dialect of TEST_DIALECTS) {
  describe(`mapping end to end on ${dialect}`, () => {
    // The lab's partner of this dialect and one store for the dialect's tests (each test has its
    // own table, view and connector, so none reads what another wrote); set by `enter`.
    let lab: Lab;
    let partner: Partner;
    let store: LabStore;
    let storeOpened: Promise<LabStore> | undefined;
    async function enter(testLab: Lab): Promise<void> {
      lab = testLab;
      partner = await lab.partner(dialect);
      store = await (storeOpened ??= lab.store());
    }

    /** A customers table + view (business 1 and 2 share it) and a connector on business 1. */
    async function customers(streamExtra = '', fields = 'id: id\n      email: email\n      first_name: name\n      phone: { column: phone, transform: [trim, empty_to_null, { phone_e164: { region: US } }] }') {
      const id = lab.unique('c');
      const t = partner.types;
      await lab.view(partner, id, `id ${t.bigint} primary key, business_id integer not null, email ${t.text}, name ${t.text},
           phone ${t.text}, deleted_at ${t.timestamp} null, updated_at ${t.timestamp} not null`);
      const connector = await lab.connector(store, partner, { id, tenant: `tenant-${id}`, source: 'settle_seconds: 0', body: `streams:
  - name: customers
    view: v_${id}
    schema: contacts
    primary_key: [id]
    cursor: updated_at
    filter: { business_id: 1 }
${streamExtra}    fields:
      ${fields}
` });
      return { id, connector, ref: { connectorId: id, stream: 'customers' } };
    }

    /** `count` rows of business 1 with ids from `from`, cursors one second apart in the past. */
    function rows(count: number, from = 1, phone = (i: number) => `(212) 555-${String(1000 + i)}`): string {
      return Array.from({ length: count }, (_, k) => {
        const i = from + k;
        return `(${i}, 1, 'u${i}@x.io', 'N${i}', '${phone(i)}', null, ${partner.nowMinus(600 - i)})`;
      }).join(', ');
    }

    async function pull(connector: RegisteredConnector): Promise<RunSummary> {
      const [summary] = await lab.pull(store, connector);
      return summary!;
    }

    const ids = async (connector: RegisteredConnector, schema = 'contacts') =>
      (await readResources(store.db, connector.tenant, schema)).map((r) => r.id);

    test('delivers each dialect\'s types exactly: decimals, arrays/JSON, microsecond times, unicode and a 1 MB text', async ({ lab: testLab }) => {
      await enter(testLab);
      const id = lab.unique('c');
      const pg = dialect === 'postgres';
      await partner.exec(
        pg
          ? `create table t_${id} (id bigint primary key, name text, amount numeric(14,2), tags text[], meta jsonb,
               seen_at timestamptz, note text, updated_at timestamptz not null)`
          : `create table t_${id} (id bigint primary key, name varchar(100), amount decimal(14,2), tags json, meta json,
               seen_at datetime(6), note longtext, updated_at datetime(6) not null) character set utf8mb4`,
        `create view v_${id} as select * from t_${id}`,
        pg
          ? `insert into t_${id} values
               (1, 'Zoë 😀 Ågren', 12345678.90, array['vip','café'], '{"level": 2, "nested": {"ok": true}}', '2024-05-06 07:08:09.123456+00', repeat('ab😀', 250000), now() - interval '1 minute'),
               (2, '東京', 0.10, '{}', '{}', null, '', now() - interval '1 minute'),
               (3, null, 99999999.99, null, null, '1999-12-31 23:59:59.999999+00', null, now() - interval '1 minute')`
          : `insert into t_${id} values
               (1, 'Zoë 😀 Ågren', 12345678.90, '["vip","café"]', '{"level": 2, "nested": {"ok": true}}', '2024-05-06 07:08:09.123456', repeat('ab😀', 250000), utc_timestamp(6) - interval 1 minute),
               (2, '東京', 0.10, '[]', '{}', null, '', utc_timestamp(6) - interval 1 minute),
               (3, null, 99999999.99, null, null, '1999-12-31 23:59:59.999999', null, utc_timestamp(6) - interval 1 minute)`,
      );
      await partner.grantReadOnly();
      await registerSchemaDefinitions(store.db, [{
        name: 'rp-map-types', category: 'custom_schema', externalIdField: 'id',
        jsonSchema: {
          type: 'object', required: ['id'],
          properties: {
            id: { type: 'string' }, name: { type: 'string' }, amount: { type: 'number' }, tags: { type: 'array', items: { type: 'string' } },
            meta: { type: 'object' }, seen_at: { type: 'string', format: 'date-time' }, note: { type: 'string' },
          },
        },
      }]);
      const connector = await lab.connector(store, partner, { id, tenant: `tenant-${id}`, source: 'settle_seconds: 0', body: `streams:
  - { name: things, view: v_${id}, schema: rp-map-types, primary_key: [id], cursor: updated_at,
      fields: { id: id, name: name, amount: amount, tags: tags, meta: meta, seen_at: seen_at, note: note } }
` });
      const s = await pull(connector);
      expect(s.error).toBeUndefined();
      expect(s.rowsSent).toBe(3);
      const [one, two, three] = await readResources(store.db, connector.tenant, 'rp-map-types');
      expect(one).toMatchObject({ id: '1', name: 'Zoë 😀 Ågren', amount: 12345678.9, tags: ['vip', 'café'], meta: { level: 2, nested: { ok: true } } });
      expect(one!.seen_at).toBe('2024-05-06T07:08:09.123456Z');
      expect(one!.note).toBe('ab😀'.repeat(250000));
      expect((one!.note as string).length).toBe(1_000_000);
      expect(two).toEqual({ id: '2', name: '東京', amount: 0.1, tags: [], meta: {}, note: '' });
      // NULL columns are sent as null and so are absent in the store (Reach deletes the field).
      expect(three).toEqual({ id: '3', amount: 99999999.99, seen_at: '1999-12-31T23:59:59.999999Z' });
    });

    test('quarantines 1 bad row of 50 and delivers the other 49; retry-rejects delivers it after the fix', async ({ lab: testLab }) => {
      await enter(testLab);
      const { id, connector, ref } = await customers('    reject_threshold: 0.1\n    page_size: 20\n');
      await partner.exec(`insert into t_${id} values ${rows(50, 1, (i) => (i === 17 ? 'call me maybe' : `(212) 555-${1000 + i}`))}`);
      const s = await pull(connector);
      expect(s.status).toBe('succeeded');
      expect([s.rowsRead, s.rowsSent, s.rowsRejected]).toEqual([50, 49, 1]);
      expect(await ids(connector)).toEqual(Array.from({ length: 50 }, (_, i) => String(i + 1)).filter((x) => x !== '17'));
      const [entry, ...more] = await listRejections(store.db, id);
      expect(more).toEqual([]);
      expect(entry).toMatchObject({ stream: 'customers', externalId: '17', sourceKey: ['17'], fields: ['phone'], runId: s.runId, tenant: connector.tenant });
      expect(entry!.reason).toMatch(/^phone: not a valid phone number/);

      // The partner fixes the phone without touching updated_at: only a retry can pick it up.
      await partner.exec(`update t_${id} set phone = '(212) 555-1017' where id = 17`);
      const watermark = await loadWatermark(store.db, ref);
      const [retry] = await retryRejects({ store: store.db, connector, log: testLog });
      expect(retry).toMatchObject({ stream: 'customers', entries: 1, resolved: 1, stillFailing: 0, gone: 0 });
      expect(retry!.counts.rowsSent).toBe(1);
      expect((await readResources(store.db, connector.tenant, 'contacts')).find((r) => r.id === '17')).toMatchObject({ phone: '+12125551017' });
      expect(await listRejections(store.db, id)).toEqual([]);
      expect(await loadWatermark(store.db, ref)).toEqual(watermark);
    });

    test('retry-rejects updates entries that still fail and resolves those whose row is gone, with a note', async ({ lab: testLab }) => {
      await enter(testLab);
      const { id, connector } = await customers('    reject_threshold: 0.2\n');
      await partner.exec(`insert into t_${id} values ${rows(30, 1, (i) => (i === 5 || i === 6 ? 'nope' : `(212) 555-${1000 + i}`))}`);
      const first = await pull(connector);
      expect(first.rowsRejected).toBe(2);
      await partner.exec(`delete from t_${id} where id = 5`, `update t_${id} set phone = 'still nope' where id = 6`);
      const [retry] = await retryRejects({ store: store.db, connector, stream: 'customers', log: testLog });
      expect(retry).toMatchObject({ entries: 2, resolved: 0, stillFailing: 1, gone: 1 });
      const open = await listRejections(store.db, id);
      expect(open.map((e) => [e.externalId, e.runId])).toEqual([['6', retry!.runId]]);
      const all = await listRejections(store.db, id, { all: true });
      expect(all.find((e) => e.externalId === '5')!.reason).toContain(GONE_NOTE);
      expect(all.find((e) => e.externalId === '5')!.resolvedAt).not.toBeNull();
    });

    test('fails a run whose rejection rate passes the threshold, keeping the watermark at the last good page', async ({ lab: testLab }) => {
      await enter(testLab);
      const { id, connector, ref } = await customers('    reject_threshold: 0.1\n    page_size: 10\n');
      await partner.exec(`insert into t_${id} values ${rows(20, 1, (i) => (i >= 12 && i <= 15 ? 'bad' : `(212) 555-${1000 + i}`))}`);
      const s = await pull(connector);
      expect(s.status).toBe('failed');
      expect((s.error as PullerError).code).toBe('RP_REJECT_RATE');
      expect(s.error!.message).toContain('4 of 20 records rejected');
      const watermark = await loadWatermark(store.db, ref);
      expect(watermark!.key).toEqual(['10']);
      expect(await ids(connector)).toHaveLength(10);
      // The reasons stay visible even though the page was refused.
      expect((await listRejections(store.db, id)).map((e) => e.externalId)).toEqual(['12', '13', '14', '15']);
    });

    test('does not re-send unchanged rows on a lookback or after a watermark reset', async ({ lab: testLab }) => {
      await enter(testLab);
      const { id, connector, ref } = await customers('    lookback_seconds: 3600\n');
      await partner.exec(`insert into t_${id} values ${rows(10)}`);
      expect((await pull(connector)).rowsSent).toBe(10);
      await partner.exec(`update t_${id} set name = 'Changed', updated_at = ${partner.nowMinus(1)} where id = 3`);
      const lookback = await pull(connector);
      expect(lookback.error).toBeUndefined();
      expect([lookback.rowsRead, lookback.rowsSent, lookback.rowsUnchanged]).toEqual([10, 1, 9]);
      await saveWatermark(store.db, ref, undefined);
      const again = await pull(connector);
      expect([again.rowsRead, again.rowsSent, again.rowsUnchanged]).toEqual([10, 0, 10]);
      expect((await readResources(store.db, connector.tenant, 'contacts'))[2]).toMatchObject({ id: '3', first_name: 'Changed' });
    });

    test('turns soft-deleted rows into deletes, even when another value of the row is bad', async ({ lab: testLab }) => {
      await enter(testLab);
      const { id, connector } = await customers('    deleted: { column: deleted_at }\n');
      await partner.exec(`insert into t_${id} values ${rows(5)}`);
      await pull(connector);
      await partner.exec(
        `update t_${id} set deleted_at = ${partner.nowMinus(2)}, updated_at = ${partner.nowMinus(1)} where id = 2`,
        `update t_${id} set deleted_at = ${partner.nowMinus(2)}, phone = 'garbage', updated_at = ${partner.nowMinus(1)} where id = 4`,
      );
      const s = await pull(connector);
      expect([s.rowsRead, s.rowsDeleted, s.rowsRejected]).toEqual([2, 2, 0]);
      expect(await ids(connector)).toEqual(['1', '3', '5']);
      const tombstones = await store.db.selectFrom('resources').select('external_id')
        .where('tenant_id', '=', connector.tenant).where('deleted', '=', true).orderBy('external_id').execute();
      expect(tombstones.map((r) => r.external_id)).toEqual(['2', '4']);
    });

    test('reconciles hard deletes within the tenant filter, guarded against mass deletes', async ({ lab: testLab }) => {
      await enter(testLab);
      const { id, connector } = await customers();
      await partner.exec(`insert into t_${id} values ${rows(20)}`,
        `insert into t_${id} values (100, 2, 'other@x.io', 'Other', null, null, ${partner.nowMinus(30)})`);
      await pull(connector);
      const reconcile = (extra: { allowMassDelete?: boolean; dryRun?: boolean; maxDeleteRatio?: number } = {}) =>
        reconcileStream({ store: store.db, connector, stream: 'customers', log: testLog, ...extra });

      await partner.exec(`delete from t_${id} where id = 7`);
      const one = await reconcile();
      expect(one).toMatchObject({ viewRows: 19, delivered: 20, missing: ['7'], deleted: 1 });
      expect(await ids(connector)).not.toContain('7');
      expect(await reconcile()).toMatchObject({ delivered: 19, missing: [], deleted: 0 });

      await partner.exec(`delete from t_${id} where id between 11 and 15`);
      await expect(reconcile()).rejects.toMatchObject({ code: 'RP_MASS_DELETE', message: expect.stringContaining('5 of 19') });
      expect(await ids(connector)).toHaveLength(19);
      expect(await reconcile({ dryRun: true })).toMatchObject({ missing: ['11', '12', '13', '14', '15'], deleted: 0, dryRun: true, guardTripped: true });
      expect(await ids(connector)).toHaveLength(19);
      expect(await reconcile({ allowMassDelete: true })).toMatchObject({ deleted: 5 });
      const expected = (await partner.query<{ id: string | number }>(`select id from v_${id} where business_id = 1 order by id`)).map((r) => String(r.id));
      expect(await ids(connector)).toEqual(expected);

      // An emptied view (a broken grant, a wrong filter) must not wipe the tenant.
      await partner.exec(`delete from t_${id} where business_id = 1`);
      await expect(reconcile()).rejects.toMatchObject({ code: 'RP_MASS_DELETE' });
      expect(await ids(connector)).toEqual(expected);

      // A row that comes back is delivered again: the delete carried its last version, not a later one.
      await partner.exec(`insert into t_${id} values ${rows(1, 7)}`, `update t_${id} set updated_at = ${partner.nowMinus(1)} where id = 7`);
      await pull(connector);
      expect(await ids(connector)).toContain('7');
    });

    test('delivers a transaction\'s status change paid -> cancelled through a value map, amounts exact', async ({ lab: testLab }) => {
      await enter(testLab);
      const id = lab.unique('c');
      await partner.exec(
        `create table t_${id} (transaction_id ${partner.types.bigint} primary key, amount ${partner.types.decimal}, status ${partner.types.text},
           updated_at ${partner.types.timestamp} not null)`,
        `create view v_${id} as select * from t_${id}`,
        `insert into t_${id} values (1, 12345678.90, 'completed', ${partner.nowMinus(30)}), (2, 19.99, 'open', ${partner.nowMinus(29)})`,
      );
      await partner.grantReadOnly();
      const connector = await lab.connector(store, partner, { id, tenant: `tenant-${id}`, source: 'settle_seconds: 0', body: `streams:
  - name: transactions
    view: v_${id}
    schema: transactions
    primary_key: [transaction_id]
    cursor: updated_at
    fields:
      id: transaction_id
      amount: { column: amount, transform: [decimal] }
      status: { column: status, transform: [{ map: { completed: paid, open: unpaid, void: cancelled } }] }
` });
      await pull(connector);
      expect(await readResources(store.db, connector.tenant, 'transactions')).toEqual([
        { id: '1', amount: 12345678.9, status: 'paid' }, { id: '2', amount: 19.99, status: 'unpaid' },
      ]);
      await partner.exec(`update t_${id} set status = 'void', updated_at = ${partner.nowMinus(1)} where transaction_id = 1`);
      const s = await pull(connector);
      expect([s.rowsRead, s.rowsSent]).toEqual([1, 1]);
      expect(await readResources(store.db, connector.tenant, 'transactions')).toEqual([
        { id: '1', amount: 12345678.9, status: 'cancelled' }, { id: '2', amount: 19.99, status: 'unpaid' },
      ]);
    });

    test('previews mapped records and validation results without sending or moving anything', async ({ lab: testLab }) => {
      await enter(testLab);
      const { id, connector, ref } = await customers('    reject_threshold: 0.5\n');
      await partner.exec(`insert into t_${id} values ${rows(6, 1, (i) => (i === 2 ? 'x' : `(212) 555-${1000 + i}`))}`);
      const first = await previewStream({ store: store.db, connector, stream: 'customers', limit: 3 });
      expect(first.rows.map((r) => [r.externalId, r.action, r.change ?? r.fields])).toEqual([['1', 'upsert', 'new'], ['2', 'rejected', ['phone']], ['3', 'upsert', 'new']]);
      expect(first.rows[0]!.record).toEqual({ id: '1', email: 'u1@x.io', first_name: 'N1', phone: '+12125551001' });
      expect(await loadWatermark(store.db, ref)).toBeUndefined();
      expect(await listRejections(store.db, id)).toEqual([]);
      expect(await ids(connector)).toEqual([]);

      await pull(connector);
      await partner.exec(`insert into t_${id} values ${rows(2, 7)}`);
      const next = await previewStream({ store: store.db, connector, stream: 'customers', limit: 10, next: true });
      expect(next.rows.map((r) => r.externalId)).toEqual(['7', '8']);
      const again = await previewStream({ store: store.db, connector, stream: 'customers', limit: 1 });
      expect(again.rows[0]).toMatchObject({ externalId: '1', change: 'unchanged' });
    });
  });
}
