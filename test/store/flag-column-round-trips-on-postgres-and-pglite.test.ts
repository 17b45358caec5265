/**
 * Flags sent as one text of t/f split by the server (store/text-column.ts `flagColumn`) come
 * back element for element, aligned with the text columns beside them, on PostgreSQL and on
 * PGlite alike: empty, one flag, all true, all false, any mix. And pulls whose pages hold
 * deletes (all of a page, one row, a mix; new rows and updates) leave the store, the
 * delivered records and their flags equal to the view, on both stores.
 */
import fc from 'fast-check';
import { sql, type Kysely } from 'kysely';
import { flagColumn, textColumn } from '../../src/store/text-column.ts';
import type { StoreSchema } from '../../src/store/schema.ts';
import { TEST_DIALECTS } from '../helpers/partner.ts';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test, type Lab } from '../fixture.ts';

type StoreKind = 'postgres' | 'pglite';
const STORES: StoreKind[] = ['postgres', 'pglite'];
const open = (lab: Lab, kind: StoreKind) => (kind === 'postgres' ? lab.store() : lab.embeddedStore());

async function roundTrip(db: Kysely<StoreSchema>, flags: boolean[]): Promise<{ id: string; deleted: boolean }[]> {
  const ids = flags.map((_, i) => `id${i}`);
  const { rows } = await sql<{ id: string; deleted: boolean }>`
    select x.id, x.deleted from unnest(${textColumn(ids)}, ${flagColumn(flags)}) with ordinality as x(id, deleted, n) order by n`.execute(db);
  return rows;
}

for (const kind of STORES) {
  describe(`flag columns on ${kind}`, () => {
    test('any list of flags comes back as sent, beside its ids', async ({ lab }) => {
      const store = await open(lab, kind);
      for (const flags of [[true], [false], [true, true, true], [false, false], [true, false, true, false, false]]) {
        expect(await roundTrip(store.db, flags)).toEqual(flags.map((deleted, i) => ({ id: `id${i}`, deleted })));
      }
      const { rows } = await sql<{ n: number | null }>`select cardinality(${flagColumn([])}) as n`.execute(store.db);
      expect(rows[0]!.n).toBe(0);
      await fc.assert(fc.asyncProperty(fc.array(fc.boolean(), { minLength: 1, maxLength: 300 }), async (flags) => {
        const got = await roundTrip(store.db, flags);
        expect(got.map((r) => r.deleted)).toEqual(flags);
        expect(got.map((r) => typeof r.deleted)).toEqual(flags.map(() => 'boolean'));
      }), { numRuns: 60 });
    });

    for (const dialect of TEST_DIALECTS) {
      test(`pulls from ${dialect} whose pages are all deletes, one row, or mixed leave the store equal to the view`, async ({ lab }) => {
        const partner = await lab.partner(dialect);
        const store = await open(lab, kind);
        const t = partner.types;
        const name = lab.unique(`fl${kind[1]}`);
        await lab.view(partner, name, `id ${t.bigint} primary key, email ${t.text}, deleted_at ${t.timestamp} null, updated_at ${t.timestamp} not null`);
        const table = `t_${name}`;
        const connector = await lab.connector(store, partner, {
          id: name, source: 'settle_seconds: 0',
          body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 3, deleted: { column: deleted_at },
      fields: { id: id, email: email } }
`,
        });
        // Pages of 3 by cursor: [1,2,3] all deleted, [4,5,6] mixed, [7,8,9] none, [10] one deleted row.
        const deletedIds = new Set([1, 2, 3, 5, 10]);
        const rows = Array.from({ length: 10 }, (_, i) => i + 1);
        await partner.exec(`insert into ${table} values ${rows.map((id) =>
          `(${id}, 'p${id}@x.io', ${deletedIds.has(id) ? partner.nowMinus(100) : 'null'}, ${partner.nowMinus(100 - id)})`).join(', ')}`);
        const expectStoreEqualsView = async (deleted: Set<number>) => {
          expect(await readResources(store.db, connector.tenant, 'contacts')).toEqual(
            rows.filter((id) => !deleted.has(id)).map((id) => ({ id: String(id), email: `p${id}@x.io` })));
          const delivered = await store.db.selectFrom('delivered').select(['external_id', 'deleted'])
            .where('connector_id', '=', connector.id).execute();
          const byId = Object.fromEntries(delivered.map((r) => [r.external_id, r.deleted]));
          // Every record the view holds is delivered with its flag (a delete never delivered as such may be absent).
          for (const id of rows) {
            if (deleted.has(id)) expect(byId[String(id)] ?? true).toBe(true);
            else expect(byId[String(id)]).toBe(false);
          }
          const stored = await store.db.selectFrom('resources').select(['external_id', 'deleted'])
            .where('tenant_id', '=', connector.tenant).execute();
          for (const r of stored) expect(r.deleted).toBe(deleted.has(Number(r.external_id)));
        };
        const [first] = await lab.pull(store, connector);
        expect(first).toMatchObject({ status: 'succeeded', rowsRead: 10 });
        await expectStoreEqualsView(deletedIds);

        // Updates: every deleted row comes back, every live one of the first pages goes: pages of updates (upserts) all flags flipped.
        const flipped = new Set(rows.filter((id) => !deletedIds.has(id) && id !== 9));
        await partner.exec(
          `update ${table} set deleted_at = null, updated_at = ${partner.nowMinus(50)} where id in (${[...deletedIds].join(', ')})`,
          `update ${table} set deleted_at = ${partner.nowMinus(40)}, updated_at = ${partner.nowMinus(40)} where id in (${[...flipped].join(', ')})`,
        );
        const [second] = await lab.pull(store, connector);
        expect(second).toMatchObject({ status: 'succeeded', rowsRead: 9 });
        await expectStoreEqualsView(flipped);
      });
    }
  });
}

describe('flag columns of delivery claims (Reach sink)', () => {
  for (const dialect of TEST_DIALECTS) {
    test(`pulls from ${dialect} into Reach whose pages are all deletes, one row, or mixed leave Reach equal to the view`, async ({ lab }) => {
      const partner = await lab.partner(dialect);
      const store = await lab.store();
      const reach = await lab.reachApi();
      const t = partner.types;
      const name = lab.unique('flr');
      await lab.view(partner, name, `id ${t.bigint} primary key, email ${t.text}, deleted_at ${t.timestamp} null, updated_at ${t.timestamp} not null`);
      const table = `t_${name}`;
      const connector = await lab.connector(store, partner, {
        id: name, reach, source: 'settle_seconds: 0',
        body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 3, deleted: { column: deleted_at },
      fields: { id: id, email: email } }
`,
      });
      const rows = Array.from({ length: 10 }, (_, i) => i + 1);
      const live = async () => {
        await reach.settled();
        return Object.fromEntries(reach.resources(connector.tenant, 'contacts'));
      };
      const expected = (deleted: Set<number>) => Object.fromEntries(rows.filter((id) => !deleted.has(id)).map((id) => [String(id), { id: String(id), email: `p${id}@x.io` }]));
      // First every row live, so that the deletes after it must reach Reach.
      await partner.exec(`insert into ${table} values ${rows.map((id) => `(${id}, 'p${id}@x.io', null, ${partner.nowMinus(200 - id)})`).join(', ')}`);
      expect((await lab.pull(store, connector))[0]).toMatchObject({ status: 'succeeded', rowsRead: 10 });
      expect(await live()).toEqual(expected(new Set()));
      // Pages of 3 by cursor: [1,2,3] all deleted, [5] one, [4,6] live between, [10] a last page of one delete.
      const deleted = new Set([1, 2, 3, 5, 10]);
      await partner.exec(`update ${table} set deleted_at = ${partner.nowMinus(100)}, updated_at = case when id = 10 then ${partner.nowMinus(80)} else ${partner.nowMinus(100)} end where id in (${[...deleted].join(', ')})`,
        `update ${table} set updated_at = ${partner.nowMinus(90)} where id in (4, 6)`);
      expect((await lab.pull(store, connector))[0]).toMatchObject({ status: 'succeeded', rowsRead: 7 });
      expect(await live()).toEqual(expected(deleted));
      const claims = await store.db.selectFrom('delivered').select(['external_id', 'deleted']).where('connector_id', '=', connector.id).execute();
      expect(Object.fromEntries(claims.map((c) => [c.external_id, c.deleted]))).toEqual(Object.fromEntries(rows.map((id) => [String(id), deleted.has(id)])));
    });
  }
});
