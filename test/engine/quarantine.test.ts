/**
 * The quarantine holds every record not delivered for a reason of its own, until a read of it
 * at the same or a newer cursor is delivered. A row quarantined by a pull and fixed before a
 * later page of the same pull reads it again has its entry resolved by that page. A record
 * Reach fails inside an accepted batch stays open (found by the review of the one delivery
 * order: the page's commit resolved it), and so do the records of a batch whose failures
 * Reach counts without naming them.
 */
import { retryRejects } from '../../src/engine/retry-rejects.ts';
import { countOpenRejections, listRejections } from '../../src/store/delivery-state.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { describe, expect, test } from '../fixture.ts';

// Reach's schema is stricter than the puller's: it fails emails longer than 12 characters.
const STRICT_CONTACTS = {
  contacts: {
    externalIdField: 'id',
    jsonSchema: { type: 'object', required: ['id'], properties: { id: { type: 'string' }, email: { type: 'string', maxLength: 12 } } },
  },
};

describe('quarantine within one run', () => {
  test('an entry opened on page 1 is resolved when a later page of the same pull delivers the fixed row', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    // Reach takes half a second per batch and the pull has 20 pages to go: it is still reading when the partner fixes the row.
    const reach = await lab.reachApi({ processingDelayMs: 500 });
    const name = lab.unique('q');
    await lab.view(partner, name, 'id bigint primary key, phone text, updated_at timestamptz not null',
      `select g, case when g = 1 then '12' else '415 555 01' || lpad(g::text, 2, '0') end, now() - interval '1 hour' + g * interval '1 second' from generate_series(1, 40) g`);
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

  for (const named of [true, false]) {
    test(`records Reach fails inside an accepted batch${named ? '' : ', without naming them,'} stay open for retry-rejects`, async ({ lab }) => {
      const partner = await lab.partner('postgres');
      const store = await lab.store();
      const reach = await lab.reachApi({ schemas: STRICT_CONTACTS, ...(named ? {} : { maxErrorDetails: 0 }) });
      const name = lab.unique(named ? 'rq' : 'ru');
      await lab.view(partner, name, 'id bigint primary key, email text, updated_at timestamptz not null',
        `select g, case when g = 3 then 'a-very-long-address@x.io' else 'u' || g || '@x.io' end, clock_timestamp() - interval '1 hour' + g * interval '1 ms' from generate_series(1, 5) g`);
      const connector = await lab.connector(store, partner, {
        id: name, reach, source: 'settle_seconds: 0',
        body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, reject_threshold: 1, fields: { id: id, email: email } }
`,
      });
      const [run] = await lab.pull(store, connector);
      // Unnamed failures cost every record of the batch a resend: none passes for delivered.
      const open = named ? ['3'] : ['1', '2', '3', '4', '5'];
      expect(run).toMatchObject({ status: 'succeeded', rowsRead: 5, rowsSent: 5 - open.length, rowsRejected: open.length });
      await reach.settled();
      expect([...reach.resources(connector.tenant, 'contacts').keys()].sort()).toEqual(['1', '2', '4', '5']);
      const entries = await listRejections(store.db, connector.id);
      expect(entries.map((r) => r.externalId).sort()).toEqual(open);
      expect(entries[0]!.reason).toMatch(named ? /^Reach failed the record: .*12/ : /without naming them/);
      expect(await countOpenRejections(store.db, { connectorId: connector.id, stream: 'people' })).toBe(open.length);
      const [retry] = await retryRejects({ store: store.db, connector, log: testLog });
      expect(retry).toMatchObject({ entries: open.length });
    });
  }
});
