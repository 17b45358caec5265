/**
 * Found in review: holdsUnstorable (page-judgement.ts) looks at the
 * values of a json field, never at its keys: a json column holding an object whose *key*
 * has a lone surrogate (or a NUL) passes judgement, and jsonb refuses the page at every
 * commit: one partner row wedges its stream, the failure 7b45b62 meant to end.
 */
import type { RunSummary } from '../../src/engine/run-stream.ts';
import { listRejections } from '../../src/store/delivery-state.ts';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test } from '../fixture.ts';

for (const [what, bad] of [['a lone surrogate', '{"x\\ud800": 1}'], ['a NUL', '{"x\\u0000": 1}']] as const) {
  describe(`${what} in a json object key`, () => {
    test('is quarantined; the rest of the page lands', async ({ lab }) => {
      const store = await lab.store();
      const partner = await lab.partner('postgres');
      const id = lab.unique('jkey');
      await lab.view(partner, id, 'id bigint primary key, name text, tags json, updated_at timestamptz not null',
        `select g, 'ok', '{"a": 1}'::json, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' from generate_series(3, 41) g
         union all values (2, 'bad', '${bad}'::json, timestamptz '2024-01-01 00:00:01+00')`);
      const connector = await lab.connector(store, partner, { id, tenant: `tenant-${id}`, source: 'settle_seconds: 0', body: `streams:
  - name: customers
    view: v_${id}
    schema: contacts
    primary_key: [id]
    cursor: updated_at
    fields:
      id: id
      first_name: name
      extra: tags
` });
      const [summary] = (await lab.pull(store, connector)) as RunSummary[];
      expect(summary!.error).toBeUndefined();
      expect(await readResources(store.db, `tenant-${id}`, 'contacts')).toHaveLength(39);
      const [entry] = await listRejections(store.db, connector.id);
      expect(entry).toMatchObject({ sourceKey: ['2'], fields: ["extra"] });
    });
  });
}
