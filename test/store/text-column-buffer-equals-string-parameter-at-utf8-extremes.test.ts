/**
 * Review of the Buffer text column (store/text-column.ts `textColumn`, values written as UTF-8
 * lines into one Buffer of `chars * 3` bytes): against the real PostgreSQL and PGlite, every
 * statement shape the store uses (`unnest` of several columns, `= any(...)`, INSERT ... SELECT)
 * gives exactly what the joined string parameter it replaced gave, at the extremes of the UTF-8
 * bound: pages whose every code unit takes three bytes (U+0800..U+FFFF, U+FFFF and U+FFFE
 * included), four-byte characters, surrogate halves split across two values (each half alone
 * becomes U+FFFD, never a joined pair), a single value of megabytes, thousands of values, and
 * many statements at once on the pool (Buffers taken from Node's shared allocation pool); a NUL
 * is refused as before, never stored cut short.
 */
import fc from 'fast-check';
import { sql, type Kysely } from 'kysely';
import { textColumn } from '../../src/store/text-column.ts';
import type { StoreSchema } from '../../src/store/schema.ts';
import { describe, expect, test, type Lab } from '../fixture.ts';

type StoreKind = 'postgres' | 'pglite';
const STORES: StoreKind[] = ['postgres', 'pglite'];
const open = (lab: Lab, kind: StoreKind) => (kind === 'postgres' ? lab.store() : lab.embeddedStore());

/** What the change replaced: one joined string, split by the server. */
const stringColumn = (values: readonly string[]) =>
  values.some((v) => v === '' || v.includes('\n')) ? sql<string[]>`${values}::text[]` : sql<string[]>`string_to_array(${values.join('\n')}, E'\\n')`;

/** What a driver makes of a JS string: a lone surrogate half becomes U+FFFD. */
const asUtf8 = (s: string) => Buffer.from(s, 'utf8').toString('utf8');

async function unnested(db: Kysely<StoreSchema>, column: typeof textColumn, values: string[]): Promise<string[]> {
  // Behind one character: PGlite would drop a leading U+FEFF from a text it returns (external-id-text.ts).
  const { rows } = await sql<{ v: string }>`
    select '.' || x.v as v from unnest(${column(values)}) with ordinality as x(v, n) order by n`.execute(db);
  return rows.map((r) => r.v.slice(1));
}

/** Three text columns side by side (the store sink's ids, bodies, versions): aligned row for row, with byte lengths. */
async function threeColumns(db: Kysely<StoreSchema>, a: string[], b: string[], c: string[]) {
  const { rows } = await sql<{ a: string; b: string; c: string; bytes: number }>`
    select '.' || x.a as a, '.' || x.b as b, '.' || x.c as c, octet_length(x.a) + octet_length(x.b) + octet_length(x.c) as bytes
    from unnest(${textColumn(a)}, ${textColumn(b)}, ${textColumn(c)}) with ordinality as x(a, b, c, n) order by n`.execute(db);
  return rows.map((r) => ({ a: r.a.slice(1), b: r.b.slice(1), c: r.c.slice(1), bytes: Number(r.bytes) }));
}

// Every code unit three bytes of UTF-8: the bound `chars * 3` is met exactly.
const threeByteUnit = fc.integer({ min: 0x0800, max: 0xffff }).filter((u) => u < 0xd800 || u > 0xdfff).map((u) => String.fromCharCode(u));
const threeByteText = fc.array(threeByteUnit, { minLength: 1, maxLength: 60 }).map((a) => a.join(''));
// Any code unit, lone surrogate halves included; no NUL (no PostgreSQL text holds it), no empty text or newline (the array path).
const anyUnits = fc.string({ unit: 'binary', minLength: 1, maxLength: 80 }).filter((s) => !s.includes('\u0000') && !s.includes('\n'));

for (const kind of STORES) {
  describe(`Buffer text columns on ${kind}`, () => {
    test('equal the joined string parameter for any texts, the worst UTF-8 ratio and surrogate halves split across values', { timeout: 60_000 }, async ({ lab }) => {
      const store = await open(lab, kind);
      const fixed: string[][] = [
        ['\uffff', '\ufffe', '\ufffd', '\u0800', '\ufeff', '\ufeffx', '\u2028', '\u2029', '\u0085', '\r', '\t'],
        ['a\ud83d', '\ude00b'],
        ['\ud83d', '\ude00'],
        ['😀'.repeat(1000), '𝄞', '\u{10ffff}', '\u{10000}'],
        Array.from({ length: 5000 }, (_, i) => '語'.repeat(i % 17 + 1)),
      ];
      for (const values of fixed) {
        const want = await unnested(store.db, stringColumn, values);
        expect(want).toEqual(values.map(asUtf8));
        expect(await unnested(store.db, textColumn, values)).toEqual(want);
      }
      await fc.assert(fc.asyncProperty(fc.oneof(fc.array(threeByteText, { minLength: 1, maxLength: 300 }), fc.array(anyUnits, { minLength: 1, maxLength: 200 })), async (values) => {
        expect(await unnested(store.db, textColumn, values)).toEqual(await unnested(store.db, stringColumn, values));
      }), { numRuns: 60 });
    });

    test('a page of megabyte values, all of three-byte characters, arrives whole and aligned in three columns', { timeout: 60_000 }, async ({ lab }) => {
      const store = await open(lab, kind);
      const body = '\uffff語'.repeat(600_000); // 1.2 M code units, 3.6 MB of UTF-8
      const ids = ['ü', '日本', '😀', body.slice(0, 5)];
      const bodies = [body, 'é'.repeat(300_000), '🙂'.repeat(200_000), '\ufffe'];
      const versions = ['v\u0800', 'v😀', 'vé', 'v\uffff'];
      const rows = await threeColumns(store.db, ids, bodies, versions);
      expect(rows.map(({ a, b, c }) => ({ a, b, c }))).toEqual(ids.map((a, i) => ({ a, b: bodies[i], c: versions[i] })));
      expect(rows.map((r) => r.bytes)).toEqual(ids.map((a, i) => Buffer.byteLength(a + bodies[i]! + versions[i]!)));
    });

    test('a NUL is refused as the string parameter refused it, never stored cut short', async ({ lab }) => {
      const store = await open(lab, kind);
      for (const values of [['a\u0000b'], ['ok', '\u0000'], ['語\u0000😀', 'x']]) {
        await expect(unnested(store.db, stringColumn, values)).rejects.toThrow();
        await expect(unnested(store.db, textColumn, values)).rejects.toThrow();
      }
    });

    test('as the store uses them: = any(...), an INSERT of many rows, and many statements at once on the pool', { timeout: 60_000 }, async ({ lab }) => {
      const store = await open(lab, kind);
      const table = `tc_${lab.unique('t')}`;
      await sql`create table ${sql.table(table)} (id text primary key, body text not null)`.execute(store.db);
      const ids = Array.from({ length: 3000 }, (_, i) => `${'ид'.repeat(i % 5 + 1)}${i}😀\ufeff`);
      const bodies = ids.map((id, i) => `{"n":"${'ö'.repeat(i % 300)}${id}"}`);
      await sql`insert into ${sql.table(table)} (id, body) select x.id, x.body from unnest(${textColumn(ids)}, ${textColumn(bodies)}) as x(id, body)`.execute(store.db);
      const { rows: counted } = await sql<{ n: string }>`select count(*)::text as n from ${sql.table(table)}`.execute(store.db);
      expect(counted[0]!.n).toBe('3000');
      // = any(...), as delivery-claims.ts looks up records other sends claim.
      const wanted = ids.filter((_, i) => i % 7 === 0);
      const { rows: found } = await sql<{ id: string; body: string }>`
        select '.' || id as id, body from ${sql.table(table)} where id = any(${textColumn(wanted)})`.execute(store.db);
      expect(found.map((r) => r.id.slice(1)).sort()).toEqual([...wanted].sort());
      expect(Object.fromEntries(found.map((r) => [r.id.slice(1), r.body]))).toEqual(Object.fromEntries(wanted.map((id) => [id, bodies[ids.indexOf(id)]])));
      // Small columns come from Node's shared allocation pool: many statements in flight at once each get their own texts.
      const lists = Array.from({ length: 40 }, (_, k) => Array.from({ length: k % 6 + 1 }, (_, j) => `${'é語😀'.repeat(j + 1)}-${k}-${j}`));
      const results = await Promise.all(lists.map((values) => unnested(store.db, textColumn, values)));
      expect(results).toEqual(lists);
    });
  });
}
