/**
 * A pull from a real PostgreSQL view into the local Reach API over HTTP, through a storm of
 * 429 and 503 answers: everything arrives, at its newest value, and a refused token moves
 * no watermark.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReachApiServer, type ReachApiServer } from '../../src/dev/reach-api-server.ts';
import { pullConnector } from '../../src/engine/pull-connector.ts';
import type { PullerError } from '../../src/errors.ts';
import { loadWatermark } from '../../src/store/delivery-state.ts';
import type { Store } from '../../src/store/open-store.ts';
import { freshPartner, type Partner } from '../helpers/partner.ts';
import { freshStore, registerYaml } from '../helpers/store.ts';
import { testLog } from '../helpers/quiet-log.ts';

const TOKEN = 'reach-e2e-token-5d1f';

describe('pull into the Reach API', () => {
  let partner: Partner;
  let store: Store;
  let api: ReachApiServer;

  beforeAll(async () => {
    partner = await freshPartner('postgres', 'rp_e2e_api_partner');
    store = await freshStore('rp_e2e_api_store');
    api = await startReachApiServer({ token: TOKEN, seed: 7 });
    await partner.exec(
      `create table tx (id bigint primary key, customer_id bigint, amount numeric(12,2), status text, updated_at timestamptz not null)`,
      `create view tx_v as select * from tx`,
      `insert into tx select g, g % 97, (g * 1.01)::numeric(12,2), case when g % 3 = 0 then 'completed' else 'open' end,
         clock_timestamp() - interval '1 hour' + g * interval '1 millisecond' from generate_series(1, 2500) g`,
    );
    await partner.grantReadOnly();
    process.env.RP_E2E_REACH_TOKEN = TOKEN;
  });
  afterAll(async () => {
    await api?.close();
    await store?.close();
  });

  const yaml = (tenant: string, token = '${env:RP_E2E_REACH_TOKEN}') => `
tenant: ${tenant}
${partner.sourceYaml('  settle_seconds: 0')}
reach: { api_url: "${api.url}", token: "${token}" }
streams:
  - name: transactions
    view: tx_v
    schema: transactions
    primary_key: [id]
    cursor: updated_at
    page_size: 1000
    fields:
      id: id
      customer_id: { column: customer_id, transform: [string] }
      amount: amount
      status: { column: status, transform: [{ map: { completed: paid, open: unpaid, void: cancelled } }] }
`;

  async function expected() {
    const rows = await partner.query<{ id: string; customer_id: string; amount: string; status: string }>('select * from tx_v order by id');
    const status: Record<string, string> = { completed: 'paid', open: 'unpaid', void: 'cancelled' };
    return new Map(rows.map((r) => [String(r.id), { id: String(r.id), customer_id: String(r.customer_id), amount: Number(r.amount), status: status[r.status] }]));
  }

  /** A local Reach that fails transactions above 1000 inside accepted batches: stricter than the puller's schema. */
  const startStrictReach = () => startReachApiServer({
    token: TOKEN,
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

  it('delivers 2,500 rows through a 30 % 429 + 10 % 503 storm, then a status change', async () => {
    api.setFaults({ rate429: 0.3, rate503: 0.1, retryAfterSeconds: 0 });
    const connector = await registerYaml(store, 'storm', yaml('storm'));
    const [run] = await pullConnector({ store: store.db, connector, log: testLog });
    expect(run!.error).toBeUndefined();
    await api.settled();
    expect(api.resources('storm', 'transactions')).toEqual(await expected());
    const accepted = api.requests.filter((r) => r.status === 202);
    expect(accepted.every((r) => r.recordCount! <= 1000)).toBe(true);
    expect(api.requests.some((r) => r.status === 429)).toBe(true);

    await partner.exec(`update tx set status = 'void', updated_at = clock_timestamp() where id = 3`);
    const [second] = await pullConnector({ store: store.db, connector, log: testLog });
    expect(second!.rowsSent).toBe(1);
    await api.settled();
    expect(api.resources('storm', 'transactions').get('3')).toMatchObject({ status: 'cancelled' });
    api.setFaults({});
  });

  it('quarantines a record Reach fails inside an accepted batch, and delivers the rest', async () => {
    // This Reach validates amounts more strictly than the puller's schema: it fails one record.
    const strict = await startStrictReach();
    try {
      await partner.exec(
        'create table big_tx (id bigint primary key, customer_id bigint, amount numeric(12,2), status text, updated_at timestamptz not null)',
        'create view big_tx_v as select * from big_tx',
        `insert into big_tx select g, g, case when g = 7 then 5000 else g end, 'open', clock_timestamp() - interval '1 hour' from generate_series(1, 10) g`,
      );
      await partner.grantReadOnly();
      const yamlText = yaml('strict').replace(api.url, strict.url).replace('view: tx_v', 'view: big_tx_v').replace('page_size: 1000', 'page_size: 1000\n    reject_threshold: 0.5');
      const connector = await registerYaml(store, 'strict', yamlText);
      const [run] = await pullConnector({ store: store.db, connector, log: testLog });
      expect(run!.status).toBe('succeeded');
      expect(run!).toMatchObject({ rowsRead: 10, rowsSent: 9, rowsRejected: 1 });
      const rejects = await store.db.selectFrom('rejected_records').select(['external_id', 'reason', 'source_key', 'resolved_at'])
        .where('connector_id', '=', 'strict').execute();
      // Open: nothing delivered row 7 since.
      expect(rejects).toEqual([{ external_id: '7', reason: expect.stringContaining('Reach failed the record'), source_key: ['7'], resolved_at: null }]);
      // Not remembered as delivered: the next change of row 7 (or retry-rejects) sends it again.
      const delivered = await store.db.selectFrom('delivered').select('external_id').where('connector_id', '=', 'strict').execute();
      expect(delivered.map((d) => d.external_id).sort()).toEqual(['1', '10', '2', '3', '4', '5', '6', '8', '9']);
      expect([...strict.resources('strict', 'transactions').keys()].sort()).toEqual(['1', '10', '2', '3', '4', '5', '6', '8', '9']);
    } finally {
      await strict.close();
    }
  });

  it('counts records Reach fails toward the reject threshold: past it, the run stops after the page that showed it', async () => {
    const strict = await startStrictReach();
    try {
      await partner.exec(
        'create table refused_tx (id bigint primary key, customer_id bigint, amount numeric(12,2), status text, updated_at timestamptz not null)',
        'create view refused_tx_v as select * from refused_tx',
        // Reach fails rows 1-5 (amount above its maximum): half of the first page, a quarter of the view.
        `insert into refused_tx select g, g, case when g <= 5 then 5000 else g end, 'open',
           clock_timestamp() - interval '1 hour' + g * interval '1 millisecond' from generate_series(1, 20) g`,
      );
      await partner.grantReadOnly();
      const yamlText = yaml('refused-rate').replace(api.url, strict.url).replace('view: tx_v', 'view: refused_tx_v')
        .replace('page_size: 1000', 'page_size: 10\n    reject_threshold: 0.2');
      const connector = await registerYaml(store, 'refused-rate', yamlText);
      const [run] = await pullConnector({ store: store.db, connector, log: testLog });
      expect(run!.status).toBe('failed');
      expect((run!.error as PullerError).code).toBe('RP_REJECT_RATE');
      // The first page stands, its refused records quarantined; nothing after it was checkpointed.
      expect((await loadWatermark(store.db, { connectorId: 'refused-rate', stream: 'transactions' }))!.key).toEqual(['10']);
      const rejects = await store.db.selectFrom('rejected_records').select('external_id').where('connector_id', '=', 'refused-rate').execute();
      expect(rejects.map((r) => r.external_id).sort()).toEqual(['1', '2', '3', '4', '5']);
    } finally {
      await strict.close();
    }
  });

  it('fails clearly on a refused token and leaves the watermark where it was', async () => {
    process.env.RP_E2E_WRONG_TOKEN = 'not-the-right-token-1234';
    const connector = await registerYaml(store, 'refused', yaml('refused', '${env:RP_E2E_WRONG_TOKEN}'));
    const [run] = await pullConnector({ store: store.db, connector, log: testLog });
    expect(run!.status).toBe('failed');
    expect(run!.error).toMatchObject({ code: 'RP_SINK_REJECTED' });
    expect(run!.error!.message).not.toContain('not-the-right-token-1234');
    expect(await loadWatermark(store.db, { connectorId: 'refused', stream: 'transactions' })).toBeUndefined();
  });
});
