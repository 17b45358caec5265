/**
 * Found in review (real MariaDB partner): a varchar primary key can
 * hold U+0000 (PostgreSQL text cannot, SQL Server nvarchar can, and a lone surrogate too).
 * judgeRow quarantines the row (storableId), but quarantine() writes its source key through
 * jsonb, which refuses \u0000: the checkpoint transaction fails, at every retry: the stream is wedged.
 */
import type { RunSummary } from '../../src/engine/run-stream.ts';
import { listRejections } from '../../src/store/delivery-state.ts';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test } from '../fixture.ts';

describe('unstorable text in a primary key', () => {
  test('a NUL in a MariaDB varchar key is quarantined; the rest of the page lands', async ({ lab }) => {
    const store = await lab.store();
    const partner = await lab.partner('mysql');
    const id = lab.unique('nulkey');
    await lab.view(partner, id, 'id varchar(20) primary key, name text, updated_at datetime(6) not null',
      `select concat('k', seq), 'ok', timestamp '2024-01-01 00:00:00' + interval seq second from seq_3_to_41
       union all select concat('bad', char(0)), 'bad', timestamp '2024-01-01 00:00:01'`);
    const connector = await lab.connector(store, partner, { id, tenant: `tenant-${id}`, source: 'settle_seconds: 0', body: `streams:
  - name: customers
    view: v_${id}
    schema: contacts
    primary_key: [id]
    cursor: updated_at
    fields:
      id: id
      first_name: name
` });
    const [summary] = (await lab.pull(store, connector)) as RunSummary[];
    expect(summary!.error).toBeUndefined();
    expect(await readResources(store.db, `tenant-${id}`, 'contacts')).toHaveLength(39);
    const [entry] = await listRejections(store.db, connector.id);
    expect(entry).toMatchObject({ fields: ['id'] });
  });
});
