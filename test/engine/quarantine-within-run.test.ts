/**
 * A row quarantined by a pull and fixed before a later page of the same pull reads it again
 * has its quarantine entry resolved by that page: the run knows it opened entries itself.
 */
import { describe, expect, test } from '../fixture.ts';

describe('quarantine within one run', () => {
  test('an entry opened on page 1 is resolved when page 3 of the same pull delivers the fixed row', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    // Reach takes half a second per batch, so the pull is still going when the partner fixes the row.
    const reach = await lab.reachApi({ processingDelayMs: 500 });
    const name = lab.unique('q');
    await lab.view(partner, name, 'id bigint primary key, phone text, updated_at timestamptz not null',
      `select g, case when g = 1 then '12' else '415 555 01' || lpad(g::text, 2, '0') end, now() - interval '1 hour' + g * interval '1 second' from generate_series(1, 8) g`);
    const connector = await lab.connector(store, partner, { id: name, reach, source: 'settle_seconds: 0', body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 2, reject_threshold: 1,
      fields: { id: id, phone: { column: phone, transform: [{ phone_e164: { region: US } }] } } }
` });
    const pulling = lab.pull(store, connector);
    const open = () => store.db.selectFrom('rejected_records').select(['source_key', 'resolved_at']).where('connector_id', '=', connector.id).execute();
    while ((await open()).length === 0) await new Promise((r) => setTimeout(r, 20));
    // Fixed, stamped after every row the pull has still to read.
    await partner.exec(`update t_${name} set phone = '415 555 0100', updated_at = now() - interval '1 minute' where id = 1`);
    const [summary] = await pulling;
    expect(summary).toMatchObject({ status: 'succeeded', rowsRejected: 1 });
    expect(await open()).toEqual([{ source_key: ['1'], resolved_at: expect.any(Date) }]);
    await reach.settled();
    expect(reach.resources(connector.tenant, 'contacts').get('1')).toEqual({ id: '1', phone: '+14155550100' });
  });
});
