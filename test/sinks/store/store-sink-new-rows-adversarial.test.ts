/**
 * Review of the plain INSERT for pages a stream never delivered (store/new-rows.ts): each way
 * the INSERT can meet rows that exist after all, or fail, or be interleaved with other
 * writers, must end as the upsert alone would have ended it, with no savepoint left behind
 * and no transaction failing that the upsert would have committed.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import { StoreSink } from '../../../src/sinks/store/store-sink.ts';
import type { SinkPage } from '../../../src/sinks/sink.ts';
import { recordDelivered } from '../../../src/store/delivery-state.ts';
import type { StoreSchema } from '../../../src/store/schema.ts';
import { readResources } from '../../helpers/resources.ts';
import { describe, expect, test } from '../../fixture.ts';
import { waitForLockWaits } from '../../helpers/waits.ts';

const ids = (n: number, prefix = 'id') => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(Math.max(3, String(n - 1).length), '0')}`);

function page(tenant: string, writer: string, version: string, upserts: string[], extra: Partial<SinkPage> = {}, body?: (id: string) => object): SinkPage {
  return {
    tenant, schema: 'contacts', writer, deletes: [], undelivered: true,
    upserts: upserts.map((id) => ({ externalId: id, json: JSON.stringify(body ? body(id) : { id, v: version }), version })),
    ...extra,
  };
}

const REF = { connectorId: 'c', stream: 's' };
const deliveredOf = (p: SinkPage) => [
  ...p.upserts.map((u) => ({ externalId: u.externalId, contentHash: `h${u.version}`, version: u.version, deleted: false })),
  ...p.deletes.map((d) => ({ externalId: d.externalId, contentHash: 'gone', version: d.version, deleted: true })),
];

/** What a page commit does in the built-in store: records, then delivery records, under the page's flag. */
async function commitPage(trx: Transaction<StoreSchema>, sink: StoreSink, p: SinkPage): Promise<number> {
  const refused = await sink.write(trx, p);
  await recordDelivered(trx, REF, deliveredOf(p), p.undelivered === true);
  return refused;
}

/** A transaction that runs `step` and then waits for `finish` before committing (or throwing what it is given). */
function held(db: Kysely<StoreSchema>, step: (trx: Transaction<StoreSchema>) => Promise<number>) {
  let finish!: (error?: Error) => void;
  const mayFinish = new Promise<Error | undefined>((resolve) => (finish = resolve));
  let wrote!: () => void;
  const written = new Promise<void>((resolve) => (wrote = resolve));
  const done = db.transaction().execute(async (trx) => {
    const refused = await step(trx);
    wrote();
    const error = await mayFinish;
    if (error) throw error;
    return refused;
  });
  done.catch(() => undefined);
  return { written, done, commit: () => finish(), fail: (e: Error) => finish(e) };
}

async function deliveredRows(db: Kysely<StoreSchema>) {
  const rows = await db.selectFrom('delivered').select(['external_id', 'version', 'content_hash', 'deleted'])
    .where('connector_id', '=', REF.connectorId).where('stream', '=', REF.stream).orderBy('external_id').execute();
  return rows;
}

async function storedRows(db: Kysely<StoreSchema>, tenant: string) {
  return db.selectFrom('resources').select(['external_id', 'body', 'version', 'deleted', 'stream_versions'])
    .where('tenant_id', '=', tenant).orderBy('external_id').execute();
}

describe('new rows: a writer that waited on another\'s uncommitted new rows', () => {
  test('server PostgreSQL: the other rolls back: the waiting writer\'s rows go in as its own, delivery records too', async ({ lab }) => {
    const store = await lab.store();
    const all = ids(200);
    const first = held(store.db, (trx) => commitPage(trx, new StoreSink(), page('rb', 'c/s', '2024-01-03', all)));
    await first.written;
    const second = store.db.transaction().execute((trx) => commitPage(trx, new StoreSink(), page('rb', 'c/s', '2024-01-02', all)));
    await waitForLockWaits(store.db, 1);
    first.fail(new Error('the first page failed after writing'));
    await expect(first.done).rejects.toThrow('the first page failed');
    expect(await second).toBe(0);
    expect(await readResources(store.db, 'rb', 'contacts')).toEqual(all.map((id) => ({ id, v: '2024-01-02' })));
    expect((await deliveredRows(store.db)).map((r) => r.version)).toEqual(all.map(() => '2024-01-02'));
  });
});

describe('new rows: three writers of one stream, the INSERT undone midway lets a third overtake', () => {
  // B holds the upper half uncommitted; A (all ids) inserts the lower half under its savepoint and
  // waits on B; C (all ids) waits on A's lower half. B commits: A's INSERT fails and is undone,
  // which releases C, whose INSERT then fails on B's rows too. Whatever order they end in, the
  // newest version must stay for every id, in resources and in delivered, and no one fails.
  const orders: [string, string, string][] = [
    ['2024-01-03', '2024-01-02', '2024-01-01'],
    ['2024-01-01', '2024-01-02', '2024-01-03'],
    ['2024-01-02', '2024-01-03', '2024-01-01'],
    ['2024-01-02', '2024-01-01', '2024-01-03'],
  ];
  for (const [va, vb, vc] of orders) {
    test(`server PostgreSQL: A ${va}, B ${vb}, C ${vc}`, async ({ lab }) => {
      const store = await lab.store();
      const tenant = 't3';
      const all = ids(300);
      const b = held(store.db, (trx) => commitPage(trx, new StoreSink(), page(tenant, 'c/s', vb, all.slice(150))));
      await b.written;
      const a = store.db.transaction().execute((trx) => commitPage(trx, new StoreSink(), page(tenant, 'c/s', va, all)));
      await waitForLockWaits(store.db, 1);
      const c = store.db.transaction().execute((trx) => commitPage(trx, new StoreSink(), page(tenant, 'c/s', vc, all)));
      await waitForLockWaits(store.db, 2);
      b.commit();
      const settled = await Promise.allSettled([a, b.done, c]);
      expect(settled.filter((s) => s.status === 'rejected').map((s) => String((s as PromiseRejectedResult).reason))).toEqual([]);
      const newest = [va, vb, vc].sort().at(-1)!;
      const newestLow = [va, vc].sort().at(-1)!;
      const expected = all.map((id, i) => ({ id, v: i < 150 ? newestLow : newest }));
      expect(await readResources(store.db, tenant, 'contacts')).toEqual(expected);
      const rows = await storedRows(store.db, tenant);
      expect(rows.map((r) => [r.version, r.stream_versions])).toEqual(expected.map((e) => [e.v, { 'c/s': e.v }]));
      expect((await deliveredRows(store.db)).map((r) => r.version)).toEqual(expected.map((e) => e.v));
      // The newest writer had nothing refused.
      const refused = settled.map((s) => (s as PromiseFulfilledResult<number>).value);
      const newestIndex = [va, vb, vc].indexOf(newest);
      expect(refused[newestIndex]).toBe(0);
    });
  }
});

describe('new rows: many fresh writers at once never deadlock', () => {
  // Pages of one stream and of another stream over overlapping ids, in different orders, each
  // writing resources then delivered in one transaction, each believing its records new (fresh
  // sinks), with some ids already stored by a third stream so that INSERTs fail midway.
  test('server PostgreSQL: 6 rounds of 4 concurrent fresh writers all commit, newest kept', async ({ lab }) => {
    const store = await lab.store();
    const errors: string[] = [];
    for (let round = 0; round < 6; round++) {
      const tenant = `dl${round}`;
      const all = ids(3000, `r${round}_`);
      // Every 97th id is there already, another stream's.
      await store.db.transaction().execute((trx) => new StoreSink().write(trx, page(tenant, 'other/x', '2020-01-01', all.filter((_, i) => i % 97 === 50))));
      const writers = [
        { writer: 'c/s', version: '2024-01-01', order: all },
        { writer: 'c/s', version: '2024-01-02', order: [...all].reverse() },
        { writer: 'c/s', version: '2024-01-03', order: all.filter((_, i) => i % 2 === 0) },
        { writer: 'c/t', version: '2024-01-04', order: [...all].reverse().filter((_, i) => i % 3 === 0) },
      ];
      const runs = writers.map((w) => store.db.transaction().execute(async (trx) => {
        const p = page(tenant, w.writer, w.version, w.order, {}, (id) => ({ id, [w.writer === 'c/t' ? 't' : 'v']: w.version }));
        const refused = await new StoreSink().write(trx, p);
        await recordDelivered(trx, { connectorId: 'c', stream: w.writer.slice(2) }, deliveredOf(p), true);
        return refused;
      }));
      for (const r of await Promise.allSettled(runs)) if (r.status === 'rejected') errors.push(`${(r.reason as { code?: string }).code} ${String(r.reason)}`);
      if (errors.length > 0) break;
      const stored = await readResources(store.db, tenant, 'contacts');
      expect(stored).toEqual(all.map((id, i) => {
        const v = i % 2 === 0 ? '2024-01-03' : '2024-01-02';
        const t = (all.length - 1 - i) % 3 === 0 ? { t: '2024-01-04' } : {};
        return { id, v, ...t };
      }));
    }
    expect(errors).toEqual([]);
  }, 120_000);
});

describe('new rows: failures and savepoints', () => {
  for (const where of ['server PostgreSQL', 'embedded PGlite'] as const) {
    const open = async (lab: { store(): Promise<{ db: Kysely<StoreSchema> }>; embeddedStore(): Promise<{ db: Kysely<StoreSchema> }> }) =>
      (where === 'server PostgreSQL' ? await lab.store() : await lab.embeddedStore()).db;

    test(`${where}: an error other than a unique violation fails the page; the next transactions write fresh pages`, async ({ lab }) => {
      const db = await open(lab);
      const sink = new StoreSink();
      const bad: SinkPage = { ...page('f', 'c/s', '2024-01-01', ids(5)), upserts: [
        ...page('f', 'c/s', '2024-01-01', ids(5)).upserts, { externalId: 'zzz', json: '{"broken', version: '2024-01-01' }] };
      await expect(db.transaction().execute((trx) => sink.write(trx, bad))).rejects.toMatchObject({ code: '22P02' });
      // Nothing of it stays; the connection (PGlite's only one) is usable, in no savepoint.
      expect(await storedRows(db, 'f')).toEqual([]);
      expect(await db.transaction().execute((trx) => commitPage(trx, sink, page('f', 'c/s', '2024-01-01', ids(5))))).toBe(0);
      // A page that fails midway of its INSERT and of the upsert after: the same.
      const existing = { ...page('f', 'c/s', '2024-01-02', ids(8)), upserts: [...page('f', 'c/s', '2024-01-02', ids(8)).upserts,
        { externalId: 'zzz', json: '{"broken', version: '2024-01-02' }] };
      await expect(db.transaction().execute((trx) => sink.write(trx, existing))).rejects.toMatchObject({ code: '22P02' });
      expect(await readResources(db, 'f', 'contacts')).toEqual(ids(5).map((id) => ({ id, v: '2024-01-01' })));
      expect(await db.transaction().execute((trx) => commitPage(trx, new StoreSink(), page('f', 'c/s', '2024-01-02', ids(8))))).toBe(0);
      expect(await readResources(db, 'f', 'contacts')).toEqual(ids(8).map((id) => ({ id, v: '2024-01-02' })));
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from resources`.execute(db);
      expect(rows[0]!.n).toBe(8);
    });

    test(`${where}: a fall-back leaves no savepoint, and the caller's own savepoint still undoes the page`, async ({ lab }) => {
      const db = await open(lab);
      await db.transaction().execute((trx) => commitPage(trx, new StoreSink(), page('sp', 'c/s', '2024-01-01', ids(10))));
      let outcome: { refused: number; leaked: unknown } | undefined;
      await expect(db.transaction().execute(async (trx) => {
        await sql`savepoint caller`.execute(trx);
        // Both statements fall back (resources and delivered hold these ids).
        const refused = await commitPage(trx, new StoreSink(), page('sp', 'c/s', '2024-01-02', ids(12)));
        const leaked = await sql`rollback to savepoint new_rows`.execute(trx).then(() => 'leaked', (e: { code?: string }) => e.code);
        outcome = { refused, leaked };
      })).rejects.toThrow();
      // 3B001: no such savepoint (the statement failing aborts this transaction, which therefore rolled back).
      expect(outcome).toEqual({ refused: 0, leaked: '3B001' });
      expect(await readResources(db, 'sp', 'contacts')).toEqual(ids(10).map((id) => ({ id, v: '2024-01-01' })));

      await db.transaction().execute(async (trx) => {
        await sql`savepoint caller`.execute(trx);
        await commitPage(trx, new StoreSink(), page('sp', 'c/s', '2024-01-02', ids(12)));
        await commitPage(trx, new StoreSink(), page('sp', 'c/s', '2024-01-03', ids(14, 'new')));
        await sql`rollback to savepoint caller`.execute(trx);
        await commitPage(trx, new StoreSink(), page('sp', 'c/s', '2024-01-04', ids(3)));
      });
      expect(await readResources(db, 'sp', 'contacts')).toEqual(ids(10).map((id, i) => ({ id, v: i < 3 ? '2024-01-04' : '2024-01-01' })));
      expect((await deliveredRows(db)).map((r) => `${r.external_id}@${r.version}`)).toEqual(ids(10).map((id, i) => `${id}@${i < 3 ? '2024-01-04' : '2024-01-01'}`));
    });

    test(`${where}: the refused count stays right, on the INSERT and on its fall-back, deletes included`, async ({ lab }) => {
      const db = await open(lab);
      const sink = new StoreSink();
      const all = ids(20);
      // Fresh: nothing refused, tombstones included.
      const first = page('cnt', 'c/s', '2024-01-02', all.slice(0, 10), { deletes: all.slice(10, 15).map((externalId) => ({ externalId, version: '2024-01-02' })) });
      expect(await db.transaction().execute((trx) => commitPage(trx, sink, first))).toBe(0);
      // Believed new (decided before the first committed), older for the 15 stored, new for 5.
      const older = page('cnt', 'c/s', '2024-01-01', all, { deletes: [] });
      expect(await db.transaction().execute((trx) => commitPage(trx, new StoreSink(), older))).toBe(15);
      // Tombstones kept their version: the older read did not resurrect them.
      expect((await readResources(db, 'cnt', 'contacts')).map((r) => r.id)).toEqual([...all.slice(0, 10), ...all.slice(15)]);
      const rows = await storedRows(db, 'cnt');
      expect(rows.filter((r) => r.deleted).map((r) => [r.external_id, r.version])).toEqual(all.slice(10, 15).map((id) => [id, '2024-01-02']));
      expect((await deliveredRows(db)).map((r) => [r.external_id, r.version, r.deleted])).toEqual(
        all.map((id, i) => [id, i < 15 ? '2024-01-02' : '2024-01-01', i >= 10 && i < 15]));
      // A tie (same version) is taken, as the upsert takes it: not refused.
      expect(await db.transaction().execute((trx) => commitPage(trx, new StoreSink(), page('cnt', 'c/s', '2024-01-02', all.slice(0, 10))))).toBe(0);
      // Deletes only, believed new, over another stream's records and over nothing.
      await db.transaction().execute((trx) => new StoreSink().write(trx, page('cnt', 'c/other', '2030-01-01', ids(3, 'o'), {}, (id) => ({ id, o: 1 }))));
      const deletesOnly: SinkPage = { tenant: 'cnt', schema: 'contacts', writer: 'c/d', upserts: [], undelivered: true,
        deletes: [...ids(3, 'o'), 'o999'].map((externalId) => ({ externalId, version: '2024-06-01' })) };
      expect(await db.transaction().execute((trx) => new StoreSink().write(trx, deletesOnly))).toBe(0);
      const tomb = (await storedRows(db, 'cnt')).filter((r) => r.external_id.startsWith('o'));
      expect(tomb.map((r) => [r.external_id, r.deleted, r.body, r.version])).toEqual(
        [...ids(3, 'o'), 'o999'].map((id) => [id, true, {}, '2024-06-01']));
      // An older read of that stream, believed new, cannot bring them back.
      expect(await db.transaction().execute((trx) => new StoreSink().write(trx, page('cnt', 'c/d', '2024-05-01', ['o000', 'o999'])))).toBe(2);
      expect((await storedRows(db, 'cnt')).filter((r) => r.external_id.startsWith('o') && !r.deleted)).toEqual([]);
    });

    test(`${where}: null fields of a page believed new are removed, inserted or merged into another stream's record`, async ({ lab }) => {
      const db = await open(lab);
      await db.transaction().execute((trx) => new StoreSink().write(trx, page('nul', 'c/crm', '2024-01-01', ['a', 'b'], {},
        (id) => ({ id, name: `N${id}`, email: `${id}@old` }))));
      const sink = new StoreSink();
      const withNulls = page('nul', 'c/mail', '2024-01-02', ['a', 'b', 'c'], {}, (id) => ({ id, email: null, phone: id === 'c' ? null : '1' }));
      expect(await db.transaction().execute((trx) => sink.write(trx, withNulls))).toBe(0);
      expect(await readResources(db, 'nul', 'contacts')).toEqual([
        { id: 'a', name: 'Na', phone: '1' }, { id: 'b', name: 'Nb', phone: '1' }, { id: 'c' }]);
      // A fresh page of only new records with nulls (the INSERT, no fall-back).
      expect(await db.transaction().execute((trx) => new StoreSink().write(trx, page('nul', 'c/x', '2024-01-02', ['d'], {}, (id) => ({ id, gone: null }))))).toBe(0);
      expect((await readResources(db, 'nul', 'contacts')).at(-1)).toEqual({ id: 'd' });
    });
  }
});
