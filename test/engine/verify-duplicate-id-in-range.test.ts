/**
 * Review 8b: two rows of one range that map to one external id (the later wins, as in a
 * delivered page): the built-in store holds the later row's fields, and verify finds nothing.
 */
import { verifyConnector } from '../../src/engine/verify.ts';
import type { Store } from '../../src/store/open-store.ts';
import { readResources } from '../helpers/resources.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { describe, expect, test, type Lab } from '../fixture.ts';

const STORES: [string, (lab: Lab) => Promise<Store>][] = [
  ['PostgreSQL', (lab) => lab.store()],
  ['embedded PGlite', (lab) => lab.embeddedStore()],
];

for (const [kind, open] of STORES) {
  describe(`review 8b: one id twice in a range, ${kind} store`, () => {
    test('the store holds the later row, verify finds no difference', { timeout: 60_000 }, async ({ lab }) => {
      const partner = await lab.partner('postgres');
      const store = await open(lab);
      const name = lab.unique('vdup');
      await lab.view(partner, name, 'id bigint primary key, code text not null, first_name text, updated_at timestamp(6) not null',
        `values (1, 'dup', 'early', now() - interval '60 second'), (2, 'other', 'o', now() - interval '59 second'), (3, 'dup', 'late', now() - interval '58 second')`);
      const connector = await lab.connector(store, partner, {
        id: name, source: 'settle_seconds: 0',
        body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 10, fields: { id: code, first_name: first_name } }
`,
      });
      const [run] = await lab.pull(store, connector);
      expect(run).toMatchObject({ status: 'succeeded' });
      const held = (await readResources(store.db, connector.tenant, 'contacts')) as { id: string; first_name: string }[];
      const [report] = await verifyConnector({ store: store.db, connector, log: testLog });
      expect({ held: held.find((r) => r.id === 'dup')?.first_name, stale: report!.stale, missing: report!.missing, extra: report!.extra })
        .toEqual({ held: 'late', stale: { count: 0, examples: [] }, missing: { count: 0, examples: [] }, extra: { count: 0, examples: [] } });
    });
  });
}
