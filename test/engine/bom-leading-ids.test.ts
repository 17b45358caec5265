/**
 * An external id that begins with U+FEFF (a byte-order mark, text PostgreSQL holds as any other)
 * on the embedded store: PGlite decodes each text field of a result with a TextDecoder that drops
 * a leading BOM, so ids read back from the store (claims' RETURNING, delivered probes) are not the
 * ids sent. Through Reach, the record's claim was never found as its own and the run waited
 * for ever; into the built-in store, the probe never found the record and it was sent again on
 * every read; reconcile took the delivered id for a missing one. Found in review (session 7).
 */
import { reconcileStream } from '../../src/engine/reconcile.ts';
import type { Store } from '../../src/store/open-store.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test, type Lab } from '../fixture.ts';

const IDS = ['\ufeffbom-lead', 'plain'];
const STORES: [string, (lab: Lab) => Promise<Store>][] = [
  ['PostgreSQL', (lab) => lab.store()],
  ['embedded PGlite', (lab) => lab.embeddedStore()],
];
const lit = (s: string) => `convert_from(decode('${Buffer.from(s, 'utf8').toString('hex')}', 'hex'), 'UTF8')`;

for (const [kind, open] of STORES) {
  for (const sinkKind of ['store', 'reach'] as const) {
    describe(`${kind}, ${sinkKind} sink`, () => {
      test('an id beginning with U+FEFF is delivered once, and probed as itself', { timeout: 30_000 }, async ({ lab }) => {
        const partner = await lab.partner('postgres');
        const store = await open(lab);
        const reach = sinkKind === 'reach' ? await lab.reachApi() : undefined;
        const name = lab.unique('bom');
        await lab.view(partner, name, 'id bigint primary key, code text not null, first_name text, updated_at timestamp(6) not null',
          `values ${IDS.map((s, i) => `(${i + 1}, ${lit(s)}, 'v1', now() - interval '60 second')`).join(', ')}`);
        const connector = await lab.connector(store, partner, {
          id: name, reach, source: 'settle_seconds: 0',
          body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: code, first_name: first_name } }
`,
        });
        const pull = (ms: number) => Promise.race([lab.pull(store, connector),
          new Promise((_, reject) => setTimeout(() => reject(new Error(`the pull did not end within ${ms} ms`)), ms).unref())]);
        expect(await pull(15_000)).toMatchObject([{ status: 'succeeded', rowsRead: 2, rowsSent: 2 }]);
        if (reach) await reach.settled();
        const held = reach ? [...reach.resources(connector.tenant, 'contacts').keys()] : (await readResources(store.db, connector.tenant, 'contacts')).map((r) => String(r.id));
        expect(held.sort()).toEqual([...IDS].sort());
        // Nothing changed in the view: re-reading the rows (a backfill) sends nothing, the delivered probe knows both ids.
        await store.db.deleteFrom('stream_state').where('connector_id', '=', name).execute();
        expect(await pull(15_000)).toMatchObject([{ status: 'succeeded', rowsRead: 2, rowsSent: 0 }]);
        // Reconcile reads every delivered id back: both rows are in the view, so nothing is missing.
        const reconciled = await reconcileStream({ store: store.db, connector, stream: 'people', log: testLog, dryRun: true });
        expect(reconciled.missing).toEqual([]);
      });
    });
  }
}
