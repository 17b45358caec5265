/**
 * Found in review (real MariaDB partner): a MariaDB text column can
 * hold U+0000. A field mapped with the `json` transform whose text does not parse is
 * rejected with V8's JSON.parse message, which quotes the text raw (NUL and all):
 * transforms.ts json() puts it in the reason, quarantine() writes the reason through jsonb,
 * which refuses \u0000: the page's commit fails at every retry and the stream is wedged.
 * (An nvarchar with a lone surrogate on SQL Server does the same.)
 */
import type { RunSummary } from '../../src/engine/run-stream.ts';
import { listRejections } from '../../src/store/delivery-state.ts';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test } from '../fixture.ts';

describe('unstorable text in a quarantine reason', () => {
  test('a NUL in text the json transform cannot parse is quarantined; the rest of the page lands', async ({ lab }) => {
    const store = await lab.store();
    const partner = await lab.partner('mysql');
    const id = lab.unique('nulrsn');
    await lab.view(partner, id, 'id bigint primary key, tags text, updated_at datetime(6) not null',
      `select seq, '["a"]', timestamp '2024-01-01 00:00:00' + interval seq second from seq_3_to_41
       union all select 2, concat('oops', char(0)), timestamp '2024-01-01 00:00:01'`);
    const connector = await lab.connector(store, partner, { id, tenant: `tenant-${id}`, source: 'settle_seconds: 0', body: `streams:
  - name: customers
    view: v_${id}
    schema: contacts
    primary_key: [id]
    cursor: updated_at
    fields:
      id: id
      tags: { column: tags, transform: [json] }
` });
    const [summary] = (await lab.pull(store, connector)) as RunSummary[];
    expect(summary!.error).toBeUndefined();
    expect(await readResources(store.db, `tenant-${id}`, 'contacts')).toHaveLength(39);
    const [entry] = await listRejections(store.db, connector.id);
    expect(entry).toMatchObject({ sourceKey: ['2'], fields: ['tags'] });
  });
});
