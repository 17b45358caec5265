/**
 * Incremental pulls from real PostgreSQL and MariaDB views into the built-in store:
 * what lands must equal what the view holds, through every pitfall that lost rows elsewhere.
 */
import type { RunSummary } from '../../src/engine/run-stream.ts';
import { loadWatermark } from '../../src/store/delivery-state.ts';
import type { RegisteredConnector } from '../../src/store/connector-registry.ts';
import { TEST_DIALECTS, type Partner } from '../helpers/partner.ts';
import { readResources } from '../helpers/resources.ts';
import { openAdminTransaction } from '../helpers/admin-transaction.ts';
import { describe, expect, test, type Lab, type LabStore } from '../fixture.ts';

for (const dialect of TEST_DIALECTS) {
  describe(`incremental pull from ${dialect}`, () => {
    // The dialect's partner and one store for its tests; each test has its own table, view and connector (tenant).
    let partner: Partner;
    let store: LabStore;
    let storeOpened: Promise<LabStore> | undefined;

    /** A fresh table + view, granted to the read-only user, and a connector on it. */
    async function setup(lab: Lab, options: { cursorType?: string; pageSize?: number; settle?: number; extra?: string; filter?: string } = {}) {
      partner = await lab.partner(dialect);
      store = await (storeOpened ??= lab.store());
      const id = lab.unique('c');
      const t = partner.types;
      await lab.view(partner, id, `id ${t.bigint} primary key, business_id integer not null, email ${t.text},
           name ${t.text}, updated_at ${options.cursorType ?? t.timestamp}`);
      const connector = await lab.connector(store, partner, { id, tenant: `tenant-${id}`, source: `settle_seconds: ${options.settle ?? 0}`, body: `streams:
  - name: customers
    view: v_${id}
    schema: contacts
    primary_key: [id]
    cursor: updated_at
    page_size: ${options.pageSize ?? 7}
${options.filter ?? ''}${options.extra ?? ''}
    fields:
      id: id
      email: email
      first_name: name
` });
      return { id, connector };
    }

    async function pull(lab: Lab, connector: RegisteredConnector): Promise<RunSummary> {
      const [summary] = await lab.pull(store, connector);
      if (summary!.error) throw summary!.error;
      return summary!;
    }

    /** The view's rows as the contacts records they must become. */
    async function expected(id: string, where = '1=1') {
      const rows = await partner.query<{ id: string | number; email: string | null; name: string | null }>(
        `select id, email, name from v_${id} where ${where} and updated_at is not null order by id`);
      return rows.map((r) => ({ id: String(r.id), email: r.email, first_name: r.name }))
        .map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== null)));
    }

    async function delivered(connector: RegisteredConnector) {
      return readResources(store.db, connector.tenant, 'contacts');
    }

    test('delivers every row of a tie that spans page boundaries, exactly once', async ({ lab }) => {
      const { id, connector } = await setup(lab, { pageSize: 7 });
      const values = Array.from({ length: 40 }, (_, i) =>
        `(${i + 1}, 1, 'u${i}@example.com', 'n${i}', ${i < 30 ? "'2024-01-01 10:00:00'" : `'2024-01-01 10:00:0${(i % 9) + 1}'`})`);
      await partner.exec(`insert into t_${id} (id, business_id, email, name, updated_at) values ${values.join(',')}`);
      const s = await pull(lab, connector);
      expect(s.rowsRead).toBe(40);
      expect(s.rowsSent).toBe(40);
      expect(await delivered(connector)).toEqual(await expected(id));
      // Nothing new: a second run reads nothing and the watermark stays.
      const again = await pull(lab, connector);
      expect(again.rowsRead).toBe(0);
      expect(again.watermarkAfter).toEqual(s.watermarkAfter);
    });

    test('ends a run over thousands of rows inside one millisecond with distinct microseconds', async ({ lab }) => {
      const { id, connector } = await setup(lab, { pageSize: 500 });
      const values = Array.from({ length: 3000 }, (_, i) =>
        `(${i + 1}, 1, 'm${i}@example.com', 'n', '2024-02-02 02:02:02.100${String(i % 1000).padStart(3, '0')}')`);
      await partner.exec(`insert into t_${id} (id, business_id, email, name, updated_at) values ${values.join(',')}`);
      const s = await pull(lab, connector);
      expect(s.rowsRead).toBe(3000);
      expect(s.watermarkAfter!.cursor).toMatch(/02:02:02\.100999/);
      expect(await delivered(connector)).toEqual(await expected(id));
    });

    test('moves updated rows forward and delivers their newest values', async ({ lab }) => {
      const { id, connector } = await setup(lab, { pageSize: 3 });
      await partner.exec(`insert into t_${id} values (1, 1, 'a@x.io', 'A', ${partner.nowMinus(60)}), (2, 1, 'b@x.io', 'B', ${partner.nowMinus(59)}), (3, 1, 'c@x.io', 'C', ${partner.nowMinus(58)})`);
      await pull(lab, connector);
      await partner.exec(`update t_${id} set name = 'A2', updated_at = ${partner.nowMinus(1)} where id = 1`);
      await partner.exec(`update t_${id} set email = null, updated_at = ${partner.nowMinus(1)} where id = 3`);
      const s = await pull(lab, connector);
      expect(s.rowsRead).toBe(2);
      expect(await delivered(connector)).toEqual(await expected(id));
    });

    test('picks up a late-committing transaction whose cursor is older than rows already pulled', async ({ lab }) => {
      const { id, connector } = await setup(lab, { settle: 3 });
      const late = await openAdminTransaction(partner);
      // The late row gets a cursor 2 s in the past and stays uncommitted across a pull, while
      // a row stamped after it commits at once: without the settle window the first pull
      // would read that one and move the watermark past the late row for good.
      await late.run(`insert into t_${id} values (1, 1, 'late@x.io', 'Late', ${partner.nowMinus(2)})`);
      await partner.exec(`insert into t_${id} values (2, 1, 'early@x.io', 'Early', ${partner.nowMinus(10)}), (3, 1, 'after@x.io', 'After', ${partner.nowMinus(1)})`);
      const first = await pull(lab, connector);
      expect(first.rowsRead).toBe(1);
      await late.commit();
      await new Promise((r) => setTimeout(r, 2500));
      await pull(lab, connector);
      expect((await delivered(connector)).length).toBe(3);
      expect(await delivered(connector)).toEqual(await expected(id));
    });

    test('pulls only the tenant\'s rows from a shared partner database', async ({ lab }) => {
      const { id, connector } = await setup(lab, { filter: '    filter: { business_id: 42 }\n' });
      await partner.exec(`insert into t_${id} values (1, 42, 'mine@x.io', 'Mine', ${partner.nowMinus(5)}), (2, 7, 'other@x.io', 'Other', ${partner.nowMinus(5)})`);
      const s = await pull(lab, connector);
      expect(s.rowsRead).toBe(1);
      expect(await delivered(connector)).toEqual(await expected(id, 'business_id = 42'));
    });

    test('reports rows with a NULL cursor instead of skipping them silently', async ({ lab }) => {
      const { id, connector } = await setup(lab);
      await partner.exec(`insert into t_${id} values (1, 1, 'a@x.io', 'A', null), (2, 1, 'b@x.io', 'B', ${partner.nowMinus(5)})`);
      const s = await pull(lab, connector);
      expect(s.rowsNullCursor).toBe(1);
      expect(s.rowsRead).toBe(1);
    });

    test('picks rows with a NULL cursor up through cursor_fallback', async ({ lab }) => {
      partner = await lab.partner(dialect);
      store = await (storeOpened ??= lab.store());
      const id = lab.unique('c');
      const t = partner.types;
      await lab.view(partner, id, `id ${t.bigint} primary key, name ${t.text}, created_at ${t.timestamp} not null, updated_at ${t.timestamp}`,
        `values (1, 'never updated', ${partner.nowMinus(9)}, null), (2, 'updated', ${partner.nowMinus(9)}, ${partner.nowMinus(3)})`);
      const connector = await lab.connector(store, partner, { id, tenant: `tenant-${id}`, source: 'settle_seconds: 0', body: `streams:
  - { name: customers, view: v_${id}, schema: contacts, primary_key: [id], cursor: updated_at, cursor_fallback: created_at,
      fields: { id: id, first_name: name } }
` });
      const s = await pull(lab, connector);
      expect(s.rowsNullCursor).toBe(0);
      expect((await delivered(connector)).map((r) => r.first_name)).toEqual(['never updated', 'updated']);
    });

    test('fails the stream with the view and column named when a mapped column is dropped, and keeps the watermark', async ({ lab }) => {
      const { id, connector } = await setup(lab);
      await partner.exec(`insert into t_${id} values (1, 1, 'a@x.io', 'A', ${partner.nowMinus(5)})`);
      const ok = await pull(lab, connector);
      await partner.exec(`drop view v_${id}`, `create view v_${id} as select id, business_id, name, updated_at from t_${id}`);
      await partner.grantReadOnly();
      await partner.exec(`update t_${id} set name = 'A2', updated_at = ${partner.nowMinus(1)}`);
      const [failed] = await lab.pull(store, connector);
      expect(failed!.status).toBe('failed');
      expect(failed!.error!.message).toMatch(new RegExp(`v_${id}.*email`));
      expect(await loadWatermark(store.db, { connectorId: connector.id, stream: 'customers' })).toEqual(ok.watermarkAfter);
      // Nothing was sent as null: the stored record keeps its email.
      expect((await delivered(connector))[0]).toMatchObject({ email: 'a@x.io', first_name: 'A' });
    });

    test('handles second-precision DATETIME / timestamp(0) ties', async ({ lab }) => {
      const { id, connector } = await setup(lab, { cursorType: partner.types.timestampSeconds, pageSize: 4 });
      const values = Array.from({ length: 25 }, (_, i) => `(${i + 1}, 1, 's${i}@x.io', 'S', '2024-03-03 03:03:0${i % 3}')`);
      await partner.exec(`insert into t_${id} values ${values.join(',')}`);
      await pull(lab, connector);
      await partner.exec(`insert into t_${id} values (100, 1, 'tie@x.io', 'Tie', '2024-03-03 03:03:02')`);
      const s = await pull(lab, connector);
      // A row that arrives later with the boundary cursor value but a higher key is still read.
      expect(s.rowsRead).toBe(1);
      expect(await delivered(connector)).toEqual(await expected(id));
    });
  });
}
