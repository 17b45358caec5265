/** The built-in store at its edges, on both stores: nulls and tombstones, odd keys and ids, big bodies, the refused count. */
import { StoreSink } from '../../../src/sinks/store/store-sink.ts';
import type { SinkPage } from '../../../src/sinks/sink.ts';
import type { Store } from '../../../src/store/open-store.ts';
import { readResources } from '../../helpers/resources.ts';
import { describe, expect, test, type Lab } from '../../fixture.ts';

const STORES: [string, (lab: Lab) => Promise<Store>][] = [
  ['PostgreSQL', (lab) => lab.store()],
  ['embedded PGlite', (lab) => lab.embeddedStore()],
];

for (const [kind, openStore] of STORES) {
  describe(`store sink review (held) on ${kind}`, () => {
    const sink = new StoreSink();
    let opened: Promise<Store> | undefined;
    const storeOf = (lab: Lab) => (opened ??= openStore(lab));
    const page = (tenant: string, upserts: [string, unknown, string][], deletes: [string, string][] = []): SinkPage => ({
      tenant, schema: 'contacts', writer: 'test/stream',
      upserts: upserts.map(([externalId, record, version]) => ({ externalId, json: JSON.stringify(record), version })),
      deletes: deletes.map(([externalId, version]) => ({ externalId, version })),
    });
    const writer = (store: Store) => (p: SinkPage) => store.db.transaction().execute((trx) => sink.write(trx, p));
    const row = async (store: Store, tenant: string, id: string) => (await store.db.selectFrom('resources').select(['body', 'version', 'deleted'])
      .where('tenant_id', '=', tenant).where('external_id', '=', id).execute())[0];

    test('nulls: new, existing, tombstone, nested, string', async ({ lab }) => {
      const store = await storeOf(lab); const w = writer(store);
      await w(page('n', [['new', { id: 'new', a: null, b: 1 }, 'v1']]));
      expect(await row(store, 'n', 'new')).toEqual({ body: { id: 'new', b: 1 }, version: 'v1', deleted: false });
      await w(page('n', [['ex', { id: 'ex', a: 1, b: 2 }, 'v1']]));
      await w(page('n', [['ex', { a: null, c: { d: null }, s: 'x":null' }, 'v2']]));
      expect(await row(store, 'n', 'ex')).toEqual({ body: { id: 'ex', b: 2, c: { d: null }, s: 'x":null' }, version: 'v2', deleted: false });
      await w(page('n', [], [['t', 'v1']]));
      await w(page('n', [['t', { id: 't', a: null }, 'v2']]));
      expect(await row(store, 'n', 't')).toEqual({ body: { id: 't' }, version: 'v2', deleted: false });
      // a refused upsert with a null leaves the stored record as is
      await w(page('n', [['ex', { b: null }, 'v1']]));
      expect(await row(store, 'n', 'ex')).toEqual({ body: { id: 'ex', b: 2, c: { d: null }, s: 'x":null' }, version: 'v2', deleted: false });
      // a refused upsert with a null onto a tombstone
      await w(page('n', [], [['t2', 'v5']]));
      expect(await w(page('n', [['t2', { id: 't2', a: null }, 'v2']]))).toBe(1);
      expect(await row(store, 'n', 't2')).toEqual({ body: {}, version: 'v5', deleted: true });
    });

    test('keys and text', async ({ lab }) => {
      const store = await storeOf(lab); const w = writer(store);
      const rec = { '': 1, 'a"b': 2, 'ключ': '✓😀', 'x\\y': null, '\t': 'tab', 'k\n': 'nl' };
      await w(page('k', [['1', rec, 'v1']]));
      expect(await row(store, 'k', '1')).toEqual({ body: { '': 1, 'a"b': 2, 'ключ': '✓😀', '\t': 'tab', 'k\n': 'nl' }, version: 'v1', deleted: false });
    });

    test('big body', async ({ lab }) => {
      const store = await storeOf(lab); const w = writer(store);
      const big = 'x'.repeat(20_000_000);
      await w(page('big', [['1', { id: '1', big }, 'v1'], ['2', { id: '2' }, 'v1']], [['3', 'v1']]));
      const r = await row(store, 'big', '1');
      expect((r!.body as { big: string }).big.length).toBe(20_000_000);
    });

    test('refused count mixed', async ({ lab }) => {
      const store = await storeOf(lab); const w = writer(store);
      await w(page('r', [['a', { id: 'a' }, 'v5'], ['b', { id: 'b' }, 'v5']], [['c', 'v5'], ['d', 'v5']]));
      expect(await w(page('r', [['a', { x: 1 }, 'v1'], ['c', { x: 1 }, 'v1'], ['e', { x: 1 }, 'v1']], [['b', 'v1'], ['d', 'v1'], ['f', 'v1']]))).toBe(4);
      expect(await w(page('r', [['a', { x: 1 }, 'v5'], ['c', { x: 1 }, 'v5']], [['b', 'v5'], ['d', 'v5']]))).toBe(0);
      expect(await readResources(store.db, 'r', 'contacts')).toEqual([{ id: 'a', x: 1 }, { x: 1 }, { x: 1 }]);
    });

    test('one upsert only, one delete only, delete version empty', async ({ lab }) => {
      const store = await storeOf(lab); const w = writer(store);
      expect(await w(page('o', [], [['1', '']]))).toBe(0);
      expect(await row(store, 'o', '1')).toEqual({ body: {}, version: '', deleted: true });
      expect(await w(page('o', [['1', { id: '1' }, '']]))).toBe(0);
      expect(await row(store, 'o', '1')).toEqual({ body: { id: '1' }, version: '', deleted: false });
    });

    test('odd ids', async ({ lab }) => {
      const store = await storeOf(lab); const w = writer(store);
      const ids = ['NULL', 'null', ' a ', '{x}', 'a,b', '"', '\\', 'é✓😀', 'x'.repeat(3000), ' ', '\t'];
      await w(page('ids', ids.slice(0, 6).map((id) => [id, { id }, 'v1']), ids.slice(6).map((id) => [id, 'v1'])));
      await w(page('ids', ids.slice(6).map((id) => [id, { id }, 'v2']), ids.slice(0, 6).map((id) => [id, 'v2'])));
      const rows = await store.db.selectFrom('resources').select(['external_id', 'deleted']).where('tenant_id', '=', 'ids').execute();
      expect(rows.map((r) => [r.external_id, r.deleted]).sort()).toEqual(ids.map((id, i) => [id, i < 6]).sort());
    });

  });
}
