/**
 * Found in review (7c): verify's check of the built-in store's records (`#resourcesDiffering`,
 * src/engine/verify.ts) still matches ids on their text read back from the state store.
 * On the embedded store (PGlite) a leading U+FEFF is dropped from returned text, so a
 * record '\ufeffbom' whose stored body was altered is not found stale, and a record 'bom'
 * (its twin without the BOM) is reported stale instead.
 */
import { sql } from 'kysely';
import { verifyConnector } from '../../src/engine/verify.ts';
import type { Store } from '../../src/store/open-store.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { describe, expect, test, type Lab } from '../fixture.ts';

const BOM = '\ufeffbom';
const lit = (s: string) => `convert_from(decode('${Buffer.from(s, 'utf8').toString('hex')}', 'hex'), 'UTF8')`;
const STORES: [string, (lab: Lab) => Promise<Store>][] = [
  ['PostgreSQL', (lab) => lab.store()],
  ['embedded PGlite', (lab) => lab.embeddedStore()],
];

for (const [kind, open] of STORES) {
  describe(`verify, built-in store sink, ${kind} store`, () => {
    test('a BOM-led record altered in the built-in store is found stale, its BOM-less twin is not', { timeout: 60_000 }, async ({ lab }) => {
      const partner = await lab.partner('postgres');
      const store = await open(lab);
      const name = lab.unique('vbom');
      const ids = [BOM, 'bom', 'other'];
      await lab.view(partner, name, 'id bigint primary key, code text not null, first_name text, updated_at timestamp(6) not null',
        `values ${ids.map((s, i) => `(${i + 1}, ${lit(s)}, 'v1', now() - interval '60 second')`).join(', ')}`);
      const connector = await lab.connector(store, partner, {
        id: name, source: 'settle_seconds: 0',
        body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 7, fields: { id: code, first_name: first_name } }
`,
      });
      expect(await lab.pull(store, connector)).toMatchObject([{ status: 'succeeded', rowsSent: 3 }]);
      const clean = (await verifyConnector({ store: store.db, connector, log: testLog }))[0]!;
      expect(clean).toMatchObject({ differences: 0 });
      // The BOM-led record's body altered in the built-in store (matched server-side).
      await sql`update resources set body = jsonb_set(body, '{first_name}', '"tampered"')
        where tenant_id = ${connector.tenant} and external_id = ${BOM}`.execute(store.db);
      const found = (await verifyConnector({ store: store.db, connector, log: testLog }))[0]!;
      expect(found.stale.examples).toEqual([BOM]);
      expect(found).toMatchObject({ differences: 1, stale: { count: 1 } });
    });
  });
}
