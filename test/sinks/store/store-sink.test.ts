/**
 * The built-in store: Reach's merge semantics, the version guard, and writes that commit with
 * their transaction, on both stores (server PostgreSQL and the embedded PGlite a new user
 * gets), through the one merge per page that every page takes.
 */
import { sql } from 'kysely';
import { StoreSink } from '../../../src/sinks/store/store-sink.ts';
import type { SinkPage } from '../../../src/sinks/sink.ts';
import { loadDelivered, recordDelivered, type DeliveredEntry } from '../../../src/store/delivery-state.ts';
import type { Store } from '../../../src/store/open-store.ts';
import { readResources } from '../../helpers/resources.ts';
import type { RunSummary } from '../../../src/engine/run-stream.ts';
import { describe, expect, test, type Lab } from '../../fixture.ts';

const STORES: [string, (lab: Lab) => Promise<Store>][] = [
  ['PostgreSQL', (lab) => lab.store()],
  ['embedded PGlite', (lab) => lab.embeddedStore()],
];

for (const [kind, openStore] of STORES) {
  describe(`store sink on ${kind}`, () => {
    const sink = new StoreSink();
    // One store per kind for the file (tenants keep the tests apart): a PGlite store takes a second to open.
    let opened: Promise<Store> | undefined;
    const storeOf = (lab: Lab) => (opened ??= openStore(lab));

    const page = (tenant: string, upserts: [string, Record<string, unknown>, string][], deletes: [string, string][] = []): SinkPage => ({
      tenant, schema: 'contacts', writer: 'test/stream',
      upserts: upserts.map(([externalId, record, version]) => ({ externalId, json: JSON.stringify(record), version })),
      deletes: deletes.map(([externalId, version]) => ({ externalId, version })),
    });
    const writer = (store: Store) => (p: SinkPage) => store.db.transaction().execute((trx) => sink.write(trx, p));

    test('merges like Reach: fields left out are kept, a field sent as null is deleted', async ({ lab }) => {
      const store = await storeOf(lab);
      const write = writer(store);
      await write(page('m', [['1', { id: '1', email: 'a@x.io', phone: '+1555', city: null }, 'v1']]));
      await write(page('m', [['1', { id: '1', phone: null, first_name: 'Ann' }, 'v2']]));
      expect(await readResources(store.db, 'm', 'contacts')).toEqual([{ id: '1', email: 'a@x.io', first_name: 'Ann' }]);
    });

    test('never lets an older version overwrite a newer one, for upserts and deletes', async ({ lab }) => {
      const store = await storeOf(lab);
      const write = writer(store);
      await write(page('g', [['1', { id: '1', first_name: 'new' }, '2024-01-02T00:00:00.000000Z']]));
      const skipped = await write(page('g', [['1', { id: '1', first_name: 'old' }, '2024-01-01T00:00:00.000000Z']]));
      expect(skipped).toBe(1);
      expect(await write(page('g', [], [['1', '2024-01-01T12:00:00.000000Z']]))).toBe(1);
      expect(await readResources(store.db, 'g', 'contacts')).toEqual([{ id: '1', first_name: 'new' }]);
      // A newer delete wins, leaves a tombstone, and an older upsert cannot resurrect it.
      await write(page('g', [], [['1', '2024-01-03T00:00:00.000000Z']]));
      await write(page('g', [['1', { id: '1', first_name: 'older' }, '2024-01-02T12:00:00.000000Z']]));
      expect(await readResources(store.db, 'g', 'contacts')).toEqual([]);
      // A newer upsert after a delete starts a fresh record, not a merge into the old one.
      await write(page('g', [['1', { id: '1', email: 'back@x.io' }, '2024-01-04T00:00:00.000000Z']]));
      expect(await readResources(store.db, 'g', 'contacts')).toEqual([{ id: '1', email: 'back@x.io' }]);
    });

    test('a page of thousands of upserts and deletes lands as one merge: every rule per record, any text', async ({ lab }) => {
      const store = await storeOf(lab);
      const write = writer(store);
      const n = 6000;
      // Carried as is: tabs, newlines, backslashes, quotes, escapes, `":null` inside a value, non-ASCII.
      const awkward = (i: number) => `a\tb\nc\\d"e\\\\n\r${i}":null é ✓ \u0001`;
      const first = Array.from({ length: n }, (_, i): [string, Record<string, unknown>, string] =>
        [`id\t${i}\\x`, { id: String(i), note: awkward(i), keep: i, gone: `g${i}`, nested: { a: null, b: [1, null] } }, 'v2']);
      await write(page('bulk', first));
      // The second page: newer merges that delete a field (i % 4 == 0), older reads the guard refuses (1),
      // newer deletes (2), and older deletes the guard refuses (3).
      const upserts: [string, Record<string, unknown>, string][] = [];
      const deletes: [string, string][] = [];
      for (let i = 0; i < n; i++) {
        const id = `id\t${i}\\x`;
        if (i % 4 === 0) upserts.push([id, { id: String(i), gone: null, added: awkward(-i) }, 'v3']);
        if (i % 4 === 1) upserts.push([id, { id: String(i), keep: 'old' }, 'v1']);
        if (i % 4 === 2) deletes.push([id, 'v3']);
        if (i % 4 === 3) deletes.push([id, 'v1']);
      }
      expect(await write(page('bulk', upserts, deletes))).toBe(n / 2);
      const expected = first.flatMap(([, record], i) => {
        if (i % 4 === 2) return [];
        if (i % 4 !== 0) return [record];
        const { gone: _gone, ...rest } = record;
        return [{ ...rest, added: awkward(-i) }];
      });
      const stored = (await readResources(store.db, 'bulk', 'contacts')).sort((a, b) => Number(a.id) - Number(b.id));
      expect(stored).toEqual(expected);
      // The tombstones keep their version; a newer upsert replaces one instead of merging into it.
      await write(page('bulk', [['id\t2\\x', { id: '2', fresh: true }, 'v4']]));
      const [row] = await store.db.selectFrom('resources').select(['body', 'version', 'deleted'])
        .where('tenant_id', '=', 'bulk').where('external_id', '=', 'id\t2\\x').execute();
      expect(row).toEqual({ body: { id: '2', fresh: true }, version: 'v4', deleted: false });
      const [tomb] = await store.db.selectFrom('resources').select(['body', 'version', 'deleted'])
        .where('tenant_id', '=', 'bulk').where('external_id', '=', 'id\t6\\x').execute();
      expect(tomb).toEqual({ body: {}, version: 'v3', deleted: true });
    });

    test('writes nothing when the transaction it wrote in rolls back, and the next page starts clean', async ({ lab }) => {
      const store = await storeOf(lab);
      const failing = store.db.transaction().execute(async (trx) => {
        await sink.write(trx, page('x', [['1', { id: '1' }, 'v1']]));
        throw new Error('checkpoint failed');
      });
      await expect(failing).rejects.toThrow('checkpoint failed');
      expect(await readResources(store.db, 'x', 'contacts')).toEqual([]);
      await writer(store)(page('x', [['2', { id: '2' }, 'v1']]));
      await writer(store)(page('x', [['3', { id: '3' }, 'v1']]));
      expect(await readResources(store.db, 'x', 'contacts')).toEqual([{ id: '2' }, { id: '3' }]);
    });

    test('a pull of a view lands every row as its record, page after page, awkward text and nulls included', async ({ lab }) => {
      const store = await storeOf(lab);
      const partner = await lab.partner('postgres');
      const id = lab.unique('pull');
      // 6,000 rows over pages of 2,000: tabs, newlines, backslashes, quotes and non-ASCII in the text, a null in every third row.
      await lab.view(partner, id, 'id bigint primary key, email text, name text, updated_at timestamptz not null',
        `select g, case when g % 3 = 0 then null else 'u' || g || '@x.io' end, E'a\\tb\\nc\\\\d"' || g || ' é',
          timestamptz '2024-01-01' + g * interval '1 second' from generate_series(1, 6000) g`);
      const connector = await lab.connector(store, partner, { id, tenant: `tenant-${id}`, source: 'settle_seconds: 0', body: `streams:
  - name: customers
    view: v_${id}
    schema: contacts
    primary_key: [id]
    cursor: updated_at
    page_size: 2000
    fields:
      id: id
      email: email
      first_name: name
` });
      const [summary] = (await lab.pull(store, connector)) as RunSummary[];
      expect(summary!.error).toBeUndefined();
      const rows = await partner.query<{ id: string; email: string | null; name: string }>(`select v.id::text as id, email, name from v_${id} v order by v.id`);
      const expected = rows.map((r) => (r.email === null ? { id: r.id, first_name: r.name } : { id: r.id, email: r.email, first_name: r.name }));
      expect(expected[0]!.first_name).toContain('\t');
      expect(await readResources(store.db, `tenant-${id}`, 'contacts')).toEqual(expected);
    });

    test('delivery records: the newest version per id is kept, an older one changes nothing', async ({ lab }) => {
      const store = await storeOf(lab);
      const ref = { connectorId: 'c', stream: `s-${lab.unique('d')}` };
      const entry = (externalId: string, version: string, contentHash = `h-${version}`, deleted = false): DeliveredEntry => ({ externalId, contentHash, version, deleted });
      const record = (entries: DeliveredEntry[]) => store.db.transaction().execute((trx) => recordDelivered(trx, ref, entries));
      const ids = Array.from({ length: 3000 }, (_, i) => `k\t${i}\\`);
      await record(ids.map((id) => entry(id, 'v2')));
      await record(ids.map((id, i) => (i % 2 === 0 ? entry(id, 'v3', 'new', i % 4 === 0) : entry(id, 'v1', 'stale'))));
      const known = await loadDelivered(store.db, ref, ids);
      expect(known.size).toBe(ids.length);
      ids.forEach((id, i) => expect(known.get(id)).toEqual(i % 2 === 0 ? entry(id, 'v3', 'new', i % 4 === 0) : entry(id, 'v2')));
    });

    test('external ids holding a newline are keys as sent, in the store and its delivery records', async ({ lab }) => {
      const store = await storeOf(lab);
      // Ids travel to the server joined at newlines (store/text-column.ts): a page holding one takes the array path.
      for (const ids of [['plain-1', 'line\nbreak', 'tab\there'], ['plain-2', 'plain-3']]) {
        const tenant = lab.unique('ids');
        await writer(store)(page(tenant, ids.map((id) => [id, { id }, 'v1'])));
        const { rows } = await sql<{ external_id: string }>`select external_id from resources where tenant_id = ${tenant}`.execute(store.db);
        expect(rows.map((r) => r.external_id).sort()).toEqual([...ids].sort());
        const ref = { connectorId: 'c', stream: tenant };
        const entries = ids.map((externalId): DeliveredEntry => ({ externalId, contentHash: `h-${externalId}`, version: 'v1', deleted: false }));
        await store.db.transaction().execute((trx) => recordDelivered(trx, ref, entries));
        expect([...(await loadDelivered(store.db, ref, ids)).values()].sort((a, b) => (a.externalId < b.externalId ? -1 : 1)))
          .toEqual([...entries].sort((a, b) => (a.externalId < b.externalId ? -1 : 1)));
      }
    });
  });
}
