/**
 * Found in review: the built-in store's guard after a cursor change, for records stored before
 * 0014 that migration 0015 could not fill (their stream had no recorded target when the
 * store was migrated: `reset --target-moved`, or a store from before 0007). Before this
 * change a cursor change set such a record's `version` below any new one; `lowerStoreGuard`
 * had come to lower only a map entry the record already has, so the record kept the old
 * cursor's version as its guard and refused every version of the new cursor. It lowers both.
 */
import { readFile } from 'node:fs/promises';
import { sql } from 'kysely';
import { resetStream } from '../../src/engine/reset-stream.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test } from '../fixture.ts';

const people = (name: string, cursor = 'updated_at') => `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: ${cursor}, fields: { id: id, email: email } }
`;

const migration0015 = () => readFile(new URL('../../migrations/0015_stream_versions_from_delivered.sql', import.meta.url), 'utf8');

describe('cursor change on records stored before per-stream versions', () => {
  test('timestamptz -> bigint after `reset --target-moved` and the upgrade: the changed row reaches the store', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const name = lab.unique('rv');
    await lab.view(partner, name, 'id bigint primary key, email text, row_version bigint not null, updated_at timestamptz not null',
      `select g, 'u' || g || '@x.io', g, clock_timestamp() - interval '1 hour' from generate_series(1, 3) g`);
    const first = await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0', body: people(name) });
    await lab.pull(store, first);
    // On the old version: ops ran `reset --target-moved` (the stream keeps what it delivered, its target is recorded on its next run)...
    await resetStream(store.db, { connectorId: name, stream: 'people' }, { mode: 'target-moved' }, testLog);
    // ...then upgraded: the records are as a store written before 0014 holds them (no map), and 0015 runs.
    await store.db.updateTable('resources').set({ stream_versions: '{}' } as never).where('tenant_id', '=', first.tenant).execute();
    await sql.raw(await migration0015()).execute(store.db);
    // The partner adds a version column; ops switch the cursor (the stream is read again from the start).
    const connector = await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0', body: people(name, 'row_version') });
    await partner.exec(`update t_${name} set email = 'new@x.io', row_version = 100 where id = 2`);
    const [run] = await lab.pull(store, connector);
    expect(run).toMatchObject({ status: 'succeeded', rowsRead: 3 });
    const view = await partner.query<{ id: string; email: string }>(`select id::text, email from v_${name} order by id`);
    expect(await readResources(store.db, connector.tenant, 'contacts')).toEqual(view);
  });
});
