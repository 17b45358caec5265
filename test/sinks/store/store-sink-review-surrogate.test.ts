/**
 * Review rv16store: a partner value the store's jsonb cannot hold fails the whole page, on
 * every retry. PostgreSQL's `json` type keeps a lone surrogate escape (`"\ud800"`); the pg
 * driver parses it into a JS string with a lone surrogate, JSON.stringify writes it back as
 * `\ud800`, and the store sink's `body::jsonb` refuses it ("invalid input syntax for type
 * json"). page-judgement quarantines U+0000 for the same reason, not this: one row wedges the stream.
 */
import type { RunSummary } from '../../../src/engine/run-stream.ts';
import { readResources } from '../../helpers/resources.ts';
import { describe, expect, test } from '../../fixture.ts';

describe('store sink: values jsonb cannot hold', () => {
  test('a lone surrogate in a json column is quarantined; the rest of the page lands', async ({ lab }) => {
    const store = await lab.store();
    const partner = await lab.partner('postgres');
    const id = lab.unique('surr');
    await lab.view(partner, id, 'id bigint primary key, name text, tags json, updated_at timestamptz not null',
      `values (1, 'ok', '["a"]', timestamptz '2024-01-01 00:00:00+00'), (2, 'bad', '["x\\ud800"]', timestamptz '2024-01-01 00:00:01+00')`);
    const connector = await lab.connector(store, partner, { id, tenant: `tenant-${id}`, source: 'settle_seconds: 0', body: `streams:
  - name: customers
    view: v_${id}
    schema: contacts
    primary_key: [id]
    cursor: updated_at
    fields:
      id: id
      first_name: name
      tags: tags
` });
    const [summary] = (await lab.pull(store, connector)) as RunSummary[];
    expect(summary!.error).toBeUndefined();
    expect(await readResources(store.db, `tenant-${id}`, 'contacts')).toEqual([{ id: '1', first_name: 'ok', tags: ['a'] }]);
  });
});
