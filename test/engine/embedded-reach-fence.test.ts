/**
 * Review 7: the run fence's row locks (FOR SHARE for claims and settles, FOR NO KEY UPDATE
 * for checkpoints) on the embedded store (PGlite, one session): a pull to Reach in several
 * pages, with a record Reach fails (a settle that quarantines), delivers everything at its
 * newest value and the next pull only the change.
 */
import { loadWatermark } from '../../src/store/delivery-state.ts';
import { describe, expect, test } from '../fixture.ts';

describe('the run fence on the embedded store', () => {
  test('a paged pull to Reach with a failed record, then a change', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.embeddedStore();
    const api = await lab.reachApi({
      seed: 3,
      schemas: {
        transactions: {
          externalIdField: 'id',
          jsonSchema: { type: 'object', required: ['id'], properties: { id: { type: 'string' }, amount: { type: 'number', maximum: 1000 } } },
        },
      },
    });
    api.setFaults({ rate429: 0.2, retryAfterSeconds: 0 });
    const { table, view } = await lab.view(partner, lab.unique('emb'), 'id bigint primary key, amount numeric(12,2), updated_at timestamptz not null',
      `select g, case when g = 7 then 5000 else g % 900 end, clock_timestamp() - interval '1 hour' + g * interval '1 millisecond' from generate_series(1, 900) g`);
    const connector = await lab.connector(store, partner, { id: 'emb', source: 'settle_seconds: 0', reach: api, body: `streams:
  - { name: transactions, view: ${view}, schema: transactions, primary_key: [id], cursor: updated_at, page_size: 100, reject_threshold: 0.5, fields: { id: id, amount: amount } }
` });
    const [run] = await lab.pull(store, connector);
    expect(run!.error).toBeUndefined();
    expect(run).toMatchObject({ status: 'succeeded', rowsRead: 900, rowsSent: 899, rowsRejected: 1 });
    await api.settled();
    expect(api.resources(connector.tenant, 'transactions').size).toBe(899);
    await partner.exec(`update ${table} set amount = 1, updated_at = clock_timestamp() where id in (7, 8)`);
    const [second] = await lab.pull(store, connector);
    expect(second).toMatchObject({ status: 'succeeded', rowsSent: 2 });
    await api.settled();
    const got = api.resources(connector.tenant, 'transactions');
    expect(got.size).toBe(900);
    expect(got.get('7')).toMatchObject({ amount: 1 });
    expect(await loadWatermark(store.db, { connectorId: connector.id, stream: 'transactions' })).toBeDefined();
  });
});
