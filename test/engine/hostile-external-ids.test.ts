/**
 * Hostile external ids from a partner view, through claims, delivered and the store merge, on
 * both stores and both sinks (review 7b). One begins with U+FEFF: the embedded store (PGlite)
 * drops a leading U+FEFF from every text it returns, and ids matched on their text read back
 * made a pull to Reach wait for ever on the record's claim, the built-in store send it again
 * on every read, and reconcile take it for missing (src/store/external-id-text.ts).
 */
import { reconcileStream } from '../../src/engine/reconcile.ts';
import type { Store } from '../../src/store/open-store.ts';
import { guardedId, unguardId } from '../../src/store/external-id-text.ts';
import { readResources } from '../helpers/resources.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { describe, expect, test, type Lab } from '../fixture.ts';

const IDS = ['a\tb', 'back\\slash', '"q"', "it's", 'cr\r', '\r', 'ls\u2028', 'ps\u2029', 'nel\u0085', 'ff\f', 'vt\v', 'NULL', 'null', '{}', '"a,b"', '{a,b}',
  ' lead', 'trail ', ' ', '  ', 'x'.repeat(2000), 'é😀', '\\n', '\\', '\t', ',', '"', '\u00a0', 'mid\ufeffbom', '\ufeffbom-lead', 'nl\n', '\nnl', 'a\nb'];
const STORES: [string, (lab: Lab) => Promise<Store>][] = [
  ['PostgreSQL', (lab) => lab.store()],
  ['embedded PGlite', (lab) => lab.embeddedStore()],
];
const lit = (s: string) => `convert_from(decode('${Buffer.from(s, 'utf8').toString('hex')}', 'hex'), 'UTF8')`;

for (const [kind, open] of STORES) {
  for (const sinkKind of ['store', 'reach'] as const) {
    for (const [label, ids] of [['no newline', IDS.filter((i) => !i.includes('\n'))], ['mixed', IDS]] as const) {
      describe(`${kind}, ${sinkKind} sink, ${label}`, () => {
        test('every hostile id lands once at its newest value, and is known as itself when read again', { timeout: 60_000 }, async ({ lab }) => {
          const partner = await lab.partner('postgres');
          const store = await open(lab);
          const reach = sinkKind === 'reach' ? await lab.reachApi() : undefined;
          const name = lab.unique('hid');
          await lab.view(partner, name, 'id bigint primary key, code text not null, first_name text, updated_at timestamp(6) not null',
            `values ${ids.map((s, i) => `(${i + 1}, ${lit(s)}, 'v1', now() - interval '60 second')`).join(', ')}`);
          const connector = await lab.connector(store, partner, {
            id: name, reach, source: 'settle_seconds: 0',
            body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 7, fields: { id: code, first_name: first_name } }
`,
          });
          const [first] = await lab.pull(store, connector);
          expect(first).toMatchObject({ status: 'succeeded', rowsRead: ids.length, rowsSent: ids.length, rowsRejected: 0 });
          await partner.exec(`update t_${name} set first_name = 'v2', updated_at = now() - interval '30 second' where id % 2 = 0`);
          const [second] = await lab.pull(store, connector);
          expect(second).toMatchObject({ status: 'succeeded', rowsRead: Math.floor(ids.length / 2), rowsSent: Math.floor(ids.length / 2) });
          const [third] = await lab.pull(store, connector);
          expect(third).toMatchObject({ status: 'succeeded', rowsRead: 0 });
          if (reach) await reach.settled();
          const held = reach ? [...reach.resources(connector.tenant, 'contacts').values()] as { id: string; first_name: string }[]
            : (await readResources(store.db, connector.tenant, 'contacts')) as { id: string; first_name: string }[];
          const want = ids.map((id, i) => ({ id, first_name: (i + 1) % 2 === 0 ? 'v2' : 'v1' }));
          const by = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
          expect(held.map((r) => ({ id: r.id, first_name: r.first_name })).sort(by)).toEqual(want.sort(by));
          const delivered = await store.db.selectFrom('delivered').select(guardedId().as('id')).where('connector_id', '=', name).execute();
          expect(delivered.map((d) => unguardId(d.id)).sort()).toEqual([...ids].sort());
          // Nothing changed: read again from the start (as a backfill would), nothing is sent; reconcile finds nothing missing.
          await store.db.deleteFrom('stream_state').where('connector_id', '=', name).execute();
          const [again] = await lab.pull(store, connector);
          expect(again).toMatchObject({ status: 'succeeded', rowsRead: ids.length, rowsSent: 0 });
          const reconciled = await reconcileStream({ store: store.db, connector, stream: 'people', log: testLog, dryRun: true });
          expect(reconciled.missing).toEqual([]);
        });
      });
    }
  }
}
