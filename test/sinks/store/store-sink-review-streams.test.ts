/**
 * Review rv16store: two streams of one connector into one schema (nothing in the config
 * forbids it; Reach's PATCH merge is what lets two views each contribute fields). The store
 * sink keeps ONE version per (tenant, schema, external id) and compares it across streams,
 * whose cursors have nothing to do with each other: a stream whose row is older than the
 * other stream's row is refused by the guard, its watermark moves past it, and its fields
 * never reach the store, while the run reports it sent (sink.write's refused count is ignored
 * by page-delivery.ts:91). Reach itself has no such guard: the same pull into Reach lands both.
 */
import type { RunSummary } from '../../../src/engine/run-stream.ts';
import { readResources } from '../../helpers/resources.ts';
import { describe, expect, test } from '../../fixture.ts';

describe('store sink: two streams into one schema', () => {
  test('each stream lands its fields on the shared record', async ({ lab }) => {
    const store = await lab.store();
    const partner = await lab.partner('postgres');
    const id = lab.unique('two');
    await lab.view(partner, `${id}_crm`, 'id bigint primary key, name text, updated_at timestamptz not null',
      `values (1, 'Ann', timestamptz '2024-01-02 00:00:00+00')`);
    await lab.view(partner, `${id}_mail`, 'id bigint primary key, email text, updated_at timestamptz not null',
      `values (1, 'ann@x.io', timestamptz '2024-01-01 00:00:00+00')`);
    const connector = await lab.connector(store, partner, { id, tenant: `tenant-${id}`, source: 'settle_seconds: 0', body: `streams:
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
    const summaries = (await lab.pull(store, connector)) as RunSummary[];
    expect(summaries.map((s) => s.error)).toEqual([undefined, undefined]);
    expect(await readResources(store.db, `tenant-${id}`, 'contacts')).toEqual([{ id: '1', first_name: 'Ann', email: 'ann@x.io' }]);
  });
});
