/**
 * A pull from a real PostgreSQL view into the local Reach API over HTTP, through a storm of
 * 429 and 503 answers: everything arrives, at its newest value, and a refused token moves
 * no watermark.
 */
import type { ReachApiServer } from '../../src/dev/reach-api-server.ts';
import type { PullerError } from '../../src/errors.ts';
import { loadWatermark } from '../../src/store/delivery-state.ts';
import type { Partner } from '../helpers/partner.ts';
import { describe, expect, test, type Lab, type LabStore } from '../fixture.ts';

const TX_COLUMNS = 'id bigint primary key, customer_id bigint, amount numeric(12,2), status text, updated_at timestamptz not null';

describe('pull into the Reach API', () => {
  /** A connector reading `view` into the Reach at `reach` (the lab's token unless `token` names another). */
  const connectorFor = (lab: Lab, store: LabStore, partner: Partner, reach: ReachApiServer,
    options: { view: string; pageSize?: number; extra?: string; token?: string }) => lab.connector(store, partner, {
    id: lab.unique('tx'), source: 'settle_seconds: 0', body: `reach: { api_url: "${reach.url}", token: "${options.token ?? '${env:RP_LAB_REACH_TOKEN}'}" }
streams:
  - name: transactions
    view: ${options.view}
    schema: transactions
    primary_key: [id]
    cursor: updated_at
    page_size: ${options.pageSize ?? 1000}
${options.extra ?? ''}    fields:
      id: id
      customer_id: { column: customer_id, transform: [string] }
      amount: amount
      status: { column: status, transform: [{ map: { completed: paid, open: unpaid, void: cancelled } }] }
` });

  async function expected(partner: Partner, view: string) {
    const rows = await partner.query<{ id: string; customer_id: string; amount: string; status: string }>(`select * from ${view} order by id`);
    const status: Record<string, string> = { completed: 'paid', open: 'unpaid', void: 'cancelled' };
    return new Map(rows.map((r) => [String(r.id), { id: String(r.id), customer_id: String(r.customer_id), amount: Number(r.amount), status: status[r.status] }]));
  }

  /** 2,500 transactions, a millisecond apart, an hour old. */
  const manyTransactions = (lab: Lab, partner: Partner) => lab.view(partner, lab.unique('tx'), TX_COLUMNS,
    `select g, g % 97, (g * 1.01)::numeric(12,2), case when g % 3 = 0 then 'completed' else 'open' end,
       clock_timestamp() - interval '1 hour' + g * interval '1 millisecond' from generate_series(1, 2500) g`);

  /** A local Reach that fails transactions above 1000 inside accepted batches: stricter than the puller's schema. */
  const startStrictReach = (lab: Lab) => lab.reachApi({
    schemas: {
      transactions: {
        externalIdField: 'id',
        jsonSchema: {
          type: 'object', required: ['id'],
          properties: { id: { type: 'string' }, customer_id: { type: 'string' }, amount: { type: 'number', maximum: 1000 }, status: { type: 'string' } },
        },
      },
    },
  });

  test('delivers 2,500 rows through a 30 % 429 + 10 % 503 storm, then a status change', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const api = await lab.reachApi({ seed: 7 });
    const { table, view } = await manyTransactions(lab, partner);
    api.setFaults({ rate429: 0.3, rate503: 0.1, retryAfterSeconds: 0 });
    const connector = await connectorFor(lab, store, partner, api, { view });
    const [run] = await lab.pull(store, connector);
    expect(run!.error).toBeUndefined();
    await api.settled();
    expect(api.resources(connector.tenant, 'transactions')).toEqual(await expected(partner, view));
    const accepted = api.requests.filter((r) => r.status === 202);
    expect(accepted.every((r) => r.recordCount! <= 1000)).toBe(true);
    expect(api.requests.some((r) => r.status === 429)).toBe(true);

    await partner.exec(`update ${table} set status = 'void', updated_at = clock_timestamp() where id = 3`);
    const [second] = await lab.pull(store, connector);
    expect(second!.rowsSent).toBe(1);
    await api.settled();
    expect(api.resources(connector.tenant, 'transactions').get('3')).toMatchObject({ status: 'cancelled' });
    expect(api.resources(connector.tenant, 'transactions')).toEqual(await expected(partner, view));
  });

  test('quarantines a record Reach fails inside an accepted batch, and delivers the rest', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    // This Reach validates amounts more strictly than the puller's schema: it fails one record.
    const strict = await startStrictReach(lab);
    const { view } = await lab.view(partner, lab.unique('big'), TX_COLUMNS,
      `select g, g, case when g = 7 then 5000 else g end, 'open', clock_timestamp() - interval '1 hour' from generate_series(1, 10) g`);
    const connector = await connectorFor(lab, store, partner, strict, { view, extra: '    reject_threshold: 0.5\n' });
    const [run] = await lab.pull(store, connector);
    expect(run!.status).toBe('succeeded');
    expect(run!).toMatchObject({ rowsRead: 10, rowsSent: 9, rowsRejected: 1 });
    const rejects = await store.db.selectFrom('rejected_records').select(['external_id', 'reason', 'source_key', 'resolved_at'])
      .where('connector_id', '=', connector.id).execute();
    // Open: nothing delivered row 7 since.
    expect(rejects).toEqual([{ external_id: '7', reason: expect.stringContaining('Reach failed the record'), source_key: ['7'], resolved_at: null }]);
    // Not remembered as delivered: the next change of row 7 (or retry-rejects) sends it again.
    const delivered = await store.db.selectFrom('delivered').select('external_id').where('connector_id', '=', connector.id).execute();
    expect(delivered.map((d) => d.external_id).sort()).toEqual(['1', '10', '2', '3', '4', '5', '6', '8', '9']);
    const got = strict.resources(connector.tenant, 'transactions');
    expect([...got.keys()].sort()).toEqual(['1', '10', '2', '3', '4', '5', '6', '8', '9']);
    const want = await expected(partner, view);
    want.delete('7');
    expect(got).toEqual(want);
  });

  test('counts records Reach fails toward the reject threshold: past it, the run stops after the page that showed it', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const strict = await startStrictReach(lab);
    // Reach fails rows 1-5 (amount above its maximum): half of the first page, a quarter of the view.
    const { view } = await lab.view(partner, lab.unique('refused'), TX_COLUMNS,
      `select g, g, case when g <= 5 then 5000 else g end, 'open',
         clock_timestamp() - interval '1 hour' + g * interval '1 millisecond' from generate_series(1, 20) g`);
    const connector = await connectorFor(lab, store, partner, strict, { view, pageSize: 10, extra: '    reject_threshold: 0.2\n' });
    const [run] = await lab.pull(store, connector);
    expect(run!.status).toBe('failed');
    expect((run!.error as PullerError).code).toBe('RP_REJECT_RATE');
    // The first page stands, its refused records quarantined; nothing after it was checkpointed.
    expect((await loadWatermark(store.db, { connectorId: connector.id, stream: 'transactions' }))!.key).toEqual(['10']);
    const rejects = await store.db.selectFrom('rejected_records').select('external_id').where('connector_id', '=', connector.id).execute();
    expect(rejects.map((r) => r.external_id).sort()).toEqual(['1', '2', '3', '4', '5']);
  });

  test('fails clearly on a refused token and leaves the watermark where it was', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const api = await lab.reachApi();
    const { view } = await manyTransactions(lab, partner);
    process.env.RP_E2E_WRONG_TOKEN = 'not-the-right-token-1234';
    const connector = await connectorFor(lab, store, partner, api, { view, token: '${env:RP_E2E_WRONG_TOKEN}' });
    const [run] = await lab.pull(store, connector);
    expect(run!.status).toBe('failed');
    expect(run!.error).toMatchObject({ code: 'RP_SINK_REJECTED' });
    expect(run!.error!.message).not.toContain('not-the-right-token-1234');
    expect(await loadWatermark(store.db, { connectorId: connector.id, stream: 'transactions' })).toBeUndefined();
    expect(api.resources(connector.tenant, 'transactions').size).toBe(0);
  });
});
