/**
 * Two streams of one connector into one schema (Reach's PATCH merge lets two views each
 * contribute fields). Found in review: the built-in store kept one version per record and
 * compared it across streams, whose cursors have nothing to do with each other, so the stream
 * with the older row lost its fields for good. Versions are kept per stream; each stream's
 * own older read is still refused.
 */
import { readFile } from 'node:fs/promises';
import { sql } from 'kysely';
import type { RunSummary } from '../../../src/engine/run-stream.ts';
import { StoreSink } from '../../../src/sinks/store/store-sink.ts';
import { readResources } from '../../helpers/resources.ts';
import { describe, expect, test } from '../../fixture.ts';

/** A connector whose streams `crm` and `mail` both write `contacts`. */
const twoStreams = (id: string) => ({ id, tenant: `tenant-${id}`, source: 'settle_seconds: 0', body: `streams:
  - name: crm
    view: v_${id}_crm
    schema: contacts
    primary_key: [id]
    cursor: updated_at
    fields:
      id: id
      first_name: name
  - name: mail
    view: v_${id}_mail
    schema: contacts
    primary_key: [id]
    cursor: updated_at
    fields:
      id: id
      email: email
` });

describe('store sink: two streams into one schema', () => {
  test('each stream lands its fields on the shared record', async ({ lab }) => {
    const store = await lab.store();
    const partner = await lab.partner('postgres');
    const id = lab.unique('two');
    await lab.view(partner, `${id}_crm`, 'id bigint primary key, name text, updated_at timestamptz not null',
      `values (1, 'Ann', timestamptz '2024-01-02 00:00:00+00')`);
    await lab.view(partner, `${id}_mail`, 'id bigint primary key, email text, updated_at timestamptz not null',
      `values (1, 'ann@x.io', timestamptz '2024-01-01 00:00:00+00')`);
    const connector = await lab.connector(store, partner, twoStreams(id));
    const summaries = (await lab.pull(store, connector)) as RunSummary[];
    expect(summaries.map((s) => s.error)).toEqual([undefined, undefined]);
    expect(await readResources(store.db, `tenant-${id}`, 'contacts')).toEqual([{ id: '1', first_name: 'Ann', email: 'ann@x.io' }]);
    // Each stream's guard still holds for its own writes: an older read of `mail` changes nothing.
    const sink = new StoreSink();
    const older = { tenant: `tenant-${id}`, schema: 'contacts', writer: `${id}/mail`, deletes: [],
      upserts: [{ externalId: '1', json: JSON.stringify({ id: '1', email: 'old@x.io' }), version: '2023-12-31T00:00:00.000000Z' }] };
    expect(await store.db.transaction().execute((trx) => sink.write(trx, older))).toBe(1);
    expect(await readResources(store.db, `tenant-${id}`, 'contacts')).toEqual([{ id: '1', first_name: 'Ann', email: 'ann@x.io' }]);
  });

  test('records stored before versions were kept per stream: after migration 0015 each stream lands its changes', async ({ lab }) => {
    const store = await lab.store();
    const partner = await lab.partner('postgres');
    const id = lab.unique('old');
    await lab.view(partner, `${id}_crm`, 'id bigint primary key, name text, updated_at timestamptz not null',
      `values (1, 'Ann', timestamptz '2024-01-02 00:00:00+00')`);
    await lab.view(partner, `${id}_mail`, 'id bigint primary key, email text, updated_at timestamptz not null',
      `values (1, 'ann@x.io', timestamptz '2024-01-01 00:00:00+00')`);
    const connector = await lab.connector(store, partner, twoStreams(id));
    await lab.pull(store, connector);
    // As a store written before 0014 holds it: no map, the version of the last write (crm's, the higher one).
    await store.db.updateTable('resources').set({ stream_versions: '{}', version: '2024-01-02T00:00:00.000000Z' } as never).execute();
    await sql.raw(await readFile(new URL('../../../migrations/0015_stream_versions_from_delivered.sql', import.meta.url), 'utf8')).execute(store.db);
    // mail's newer row, whose cursor is still below crm's.
    await partner.exec(`update t_${id}_mail set email = 'new@x.io', updated_at = timestamptz '2024-01-01 12:00:00+00'`);
    expect((await lab.pull(store, connector)).map((s) => s.error)).toEqual([undefined, undefined]);
    expect(await readResources(store.db, `tenant-${id}`, 'contacts')).toEqual([{ id: '1', first_name: 'Ann', email: 'new@x.io' }]);
  });
});
