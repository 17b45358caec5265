/**
 * Text columns go to the server as UTF-8 lines in one buffer (store/text-column.ts
 * `textColumn`) and come back element for element on PostgreSQL and on PGlite alike: any
 * character PostgreSQL text holds (four-byte characters, accents, CJK), empty texts and
 * newlines (sent as an array instead), and a lone surrogate as U+FFFD, as a string parameter
 * would be encoded.
 */
import fc from 'fast-check';
import { sql, type Kysely } from 'kysely';
import { textColumn } from '../../src/store/text-column.ts';
import type { StoreSchema } from '../../src/store/schema.ts';
import { describe, expect, test, type Lab } from '../fixture.ts';

type StoreKind = 'postgres' | 'pglite';
const STORES: StoreKind[] = ['postgres', 'pglite'];
const open = (lab: Lab, kind: StoreKind) => (kind === 'postgres' ? lab.store() : lab.embeddedStore());

async function roundTrip(db: Kysely<StoreSchema>, values: string[]): Promise<string[]> {
  const { rows } = await sql<{ value: string }>`
    select x.value from unnest(${textColumn(values)}) with ordinality as x(value, n) order by n`.execute(db);
  return rows.map((r) => r.value);
}

// PostgreSQL text cannot hold U+0000; every writer refuses it before a statement (page-judgement.ts).
const storable = fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.includes('\u0000'));

for (const kind of STORES) {
  describe(`text columns on ${kind}`, () => {
    test('any list of texts comes back as sent, in order', async ({ lab }) => {
      const store = await open(lab, kind);
      const wide = ['é', '日本語', '😀 emoji', 'a\u00a0b', '{"name":"Zoë","city":"Zürich"}', 'x'.repeat(5000), 'ü'.repeat(3000)];
      expect(await roundTrip(store.db, wide)).toEqual(wide);
      expect(await roundTrip(store.db, [])).toEqual([]);
      expect(await roundTrip(store.db, ['a', '', 'b'])).toEqual(['a', '', 'b']);
      expect(await roundTrip(store.db, ['line\none', 'two'])).toEqual(['line\none', 'two']);
      // A lone surrogate half is not UTF-8: encoded as U+FFFD, as the driver encodes a string.
      expect(await roundTrip(store.db, ['a\ud800b', '\udfff'])).toEqual(['a\ufffdb', '\ufffd']);
      await fc.assert(fc.asyncProperty(fc.array(storable, { maxLength: 200 }), async (values) => {
        expect(await roundTrip(store.db, values)).toEqual(values.map((v) => v.replace(/\p{Cs}/gu, '\ufffd')));
      }), { numRuns: 80 });
    });
  });
}
