/**
 * Review of four pages in flight to Reach (page-delivery.ts PAGES_IN_FLIGHT['reach-api'] = 4)
 * and the reject-rate guard: records Reach fails inside accepted batches are counted only at
 * their page's commit, by which time three more pages are posted. When the first page's
 * failures trip the guard, the pages posted after it (one of them holding a record Reach fails
 * too) are not checkpointed; the watermark stays at the page that showed the failures. No record
 * may be dropped silently: after the next pulls every row is in Reach at its value or open in
 * quarantine, and once the rows are fixed Reach equals the view and nothing is left open.
 */
import type { PullerError } from '../../src/errors.ts';
import { loadWatermark } from '../../src/store/delivery-state.ts';
import type { LabStore, Lab } from '../fixture.ts';
import type { Partner } from '../helpers/partner.ts';
import { describe, expect, test } from '../fixture.ts';

const ROWS = 60;
/** Reach fails a transaction above 1000: rows 1-9 (most of page 1) and row 35 (page 4, posted before page 1 is processed). */
const FAILING = new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 35]);

const strictReach = (lab: Lab) => lab.reachApi({
  processingDelayMs: 400,
  schemas: {
    transactions: {
      externalIdField: 'id',
      jsonSchema: { type: 'object', required: ['id'], properties: { id: { type: 'string' }, amount: { type: 'number', maximum: 1000 } } },
    },
  },
});

async function connectorFor(lab: Lab, store: LabStore, partner: Partner, id: string, url: string, view: string, threshold: number) {
  return lab.connector(store, partner, { id, source: 'settle_seconds: 0', body: `reach: { api_url: "${url}", token: "\${env:RP_LAB_REACH_TOKEN}" }
streams:
  - { name: tx, view: ${view}, schema: transactions, primary_key: [id], cursor: updated_at, page_size: 10, reject_threshold: ${threshold}, fields: { id: id, amount: amount } }
` });
}

describe('the reject-rate guard with four pages in flight to Reach', () => {
  test('trips on the first page\'s Reach failures; the pages posted after it lose no record, Reach-failed ones included', { timeout: 60_000 }, async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const reach = await strictReach(lab);
    const name = lab.unique('rr');
    const { table, view } = await lab.view(partner, name, 'id bigint primary key, amount numeric(12,2) not null, updated_at timestamptz not null',
      `select g, case when g in (${[...FAILING].join(', ')}) then 5000 else g end, timestamptz '2024-05-01 00:00:00+00' + g * interval '1 second' from generate_series(1, ${ROWS}) g`);
    const ref = { connectorId: name, stream: 'tx' };
    const strict = await connectorFor(lab, store, partner, name, reach.url, view, 0.2);

    const [tripped] = await lab.pull(store, strict);
    expect(tripped!.status).toBe('failed');
    expect((tripped!.error as PullerError).code).toBe('RP_REJECT_RATE');
    // The page that showed the failures stands; nothing after it is checkpointed.
    expect((await loadWatermark(store.db, ref))!.key).toEqual(['10']);
    await reach.settled();

    // The threshold raised: every row is now either in Reach at its value, or open in quarantine with Reach's reason.
    const lenient = await connectorFor(lab, store, partner, name, reach.url, view, 1);
    const [through] = await lab.pull(store, lenient);
    expect(through).toMatchObject({ status: 'succeeded' });
    await reach.settled();
    const held = reach.resources(lenient.tenant, 'transactions');
    const open = await store.db.selectFrom('rejected_records').select(['external_id', 'reason'])
      .where('connector_id', '=', name).where('resolved_at', 'is', null).execute();
    expect(open.map((r) => Number(r.external_id)).sort((a, b) => a - b)).toEqual([...FAILING]);
    for (const r of open) expect(r.reason).toContain('Reach failed the record');
    for (let id = 1; id <= ROWS; id++) {
      if (FAILING.has(id)) expect(held.has(String(id)), `row ${id}`).toBe(false);
      else expect(held.get(String(id)), `row ${id}`).toEqual({ id: String(id), amount: id });
    }

    // Fixed at the partner: the next pull delivers them, and their quarantine entries close.
    await partner.exec(`update ${table} set amount = 1000, updated_at = timestamptz '2024-05-01 01:00:00+00' + id * interval '1 second' where amount > 1000`);
    const [fixed] = await lab.pull(store, lenient);
    expect(fixed).toMatchObject({ status: 'succeeded', rowsSent: FAILING.size });
    await reach.settled();
    const rows = await partner.query<{ id: string; amount: string }>(`select id::text as id, amount::text as amount from ${view}`);
    expect(Object.fromEntries(reach.resources(lenient.tenant, 'transactions'))).toEqual(Object.fromEntries(rows.map((r) => [r.id, { id: r.id, amount: Number(r.amount) }])));
    const stillOpen = await store.db.selectFrom('rejected_records').select('external_id').where('connector_id', '=', name).where('resolved_at', 'is', null).execute();
    expect(stillOpen).toEqual([]);
  });
});
