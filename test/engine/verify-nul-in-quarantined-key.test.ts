/**
 * Review of verify's ranges (in-order.ts): a row quarantined for a NUL (U+0000) in its key, a
 * MariaDB varchar primary key. The pull writes its quarantine entry with the NUL as U+FFFD
 * (delivery-state.ts `storable`); verify, comparing the range row by row (the rejected row
 * makes its digest differ), looks the key up in the quarantine as jsonb and the id up as text,
 * neither of which PostgreSQL can hold with a NUL: the whole verify failed.
 */
import { verifyConnector } from '../../src/engine/verify.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { describe, expect, test } from '../fixture.ts';

describe('verify: a row quarantined for a NUL in its key', () => {
  for (const kind of ['store', 'embedded'] as const) {
    test(`reports it as quarantined, not a failure (${kind} store)`, { timeout: 60_000 }, async ({ lab }) => {
      const partner = await lab.partner('mysql');
      const store = kind === 'store' ? await lab.store() : await lab.embeddedStore();
      const name = lab.unique('vnul');
      await lab.view(partner, name, 'id varchar(20) primary key, name text, updated_at datetime(6) not null',
        `select concat('k', seq), 'ok', timestamp '2024-01-01 00:00:00' + interval seq second from seq_3_to_41
         union all select concat('bad', char(0)), 'bad', timestamp '2024-01-01 00:00:01'`);
      const connector = await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0', body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: id, first_name: name } }
` });
      const [pulled] = await lab.pull(store, connector);
      expect(pulled!.error).toBeUndefined();
      const [report] = await verifyConnector({ store: store.db, connector, log: testLog, pageSize: 10 });
      expect({ differences: report!.differences, quarantined: report!.quarantined.count, viewRows: report!.viewRows, delivered: report!.delivered })
        .toEqual({ differences: 0, quarantined: 1, viewRows: 40, delivered: 39 });
    });
  }
});
