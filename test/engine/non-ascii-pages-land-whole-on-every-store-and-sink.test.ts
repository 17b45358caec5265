/**
 * Review of the Buffer text column (store/text-column.ts): pulls from PostgreSQL and MariaDB
 * whose pages are ALL non-ASCII (ids and bodies of three-byte characters only, the bound's worst
 * case; four-byte emoji; ids beginning with U+FEFF; bodies of hundreds of kilobytes) land
 * whole in the built-in store on PostgreSQL and on PGlite, and in Reach through delivery claims,
 * and stay at their newest value through updates: the destination equals the view after every
 * pull, and a pull from the start again sends nothing (the delivery records read back match).
 */
import type { Store } from '../../src/store/open-store.ts';
import { guardedId, unguardId } from '../../src/store/external-id-text.ts';
import { TEST_DIALECTS, type Partner } from '../helpers/partner.ts';
import { describe, expect, test, type Lab } from '../fixture.ts';

const SINKS: [string, (lab: Lab) => Promise<Store>, boolean][] = [
  ['built-in store on PostgreSQL', (lab) => lab.store(), false],
  ['built-in store on PGlite', (lab) => lab.embeddedStore(), false],
  ['Reach (claims on PostgreSQL)', (lab) => lab.store(), true],
  ['Reach (claims on PGlite)', (lab) => lab.embeddedStore(), true],
];

const ROWS = 40;
/** The external id of row i: three-byte characters only, some with an emoji, some beginning with a BOM. */
const code = (i: number) => `${i % 5 === 0 ? '\ufeff' : ''}${'語日本'.slice(i % 3)}${String.fromCharCode(0x4e00 + i)}${i % 4 === 0 ? '😀' : ''}`;
/** Names of three-byte characters only; every eighth row a long one (hundreds of kB of UTF-8). */
const nameOf = (i: number, round: number) => (i % 8 === 0 ? '\uffe5'.repeat(40_000 + i) : '') + `名前${String.fromCharCode(0x3041 + i)}${'ö'.repeat(round)}${round > 0 ? '🙂' : ''}`;

function literal(partner: Partner, s: string): string {
  const hex = Buffer.from(s, 'utf8').toString('hex');
  return partner.dialect === 'mysql' ? `convert(unhex('${hex}') using utf8mb4)` : `convert_from(decode('${hex}', 'hex'), 'UTF8')`;
}

for (const dialect of TEST_DIALECTS) {
  for (const [label, open, toReach] of SINKS) {
    describe(`${dialect} into the ${label}`, () => {
      test('pages of nothing but multi-byte text land whole, and updates leave every record at its newest value', { timeout: 60_000 }, async ({ lab }) => {
        const partner = await lab.partner(dialect);
        const store = await open(lab);
        const reach = toReach ? await lab.reachApi({ maxApplyDelayMs: 300 }) : undefined;
        const name = lab.unique('na');
        const text = dialect === 'mysql' ? 'varchar(64) character set utf8mb4 collate utf8mb4_bin' : 'text';
        const long = dialect === 'mysql' ? 'mediumtext character set utf8mb4' : 'text';
        await lab.view(partner, name, `id ${partner.types.bigint} primary key, code ${text} not null, name ${long} not null, updated_at ${partner.types.timestamp} not null`);
        const rows = Array.from({ length: ROWS }, (_, i) => i + 1);
        await partner.exec(`insert into t_${name} values ${rows.map((i) => `(${i}, ${literal(partner, code(i))}, ${literal(partner, nameOf(i, 0))}, ${partner.nowMinus(300 - i)})`).join(', ')}`);
        const connector = await lab.connector(store, partner, {
          id: name, reach, source: 'settle_seconds: 0',
          body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 6, fields: { id: code, first_name: name } }
`,
        });
        const held = async () => {
          if (reach) {
            await reach.settled();
            return Object.fromEntries([...reach.resources(connector.tenant, 'contacts')].map(([id, r]) => [id, r.first_name]));
          }
          const stored = await store.db.selectFrom('resources').select([guardedId().as('id'), 'body'])
            .where('tenant_id', '=', connector.tenant).where('schema_name', '=', 'contacts').where('deleted', '=', false).execute();
          return Object.fromEntries(stored.map((r) => [unguardId(r.id), (r.body as { first_name: string }).first_name]));
        };
        const view = async () => {
          const got = await partner.query<{ code: string; name: string }>(`select code, name from v_${name}`);
          return Object.fromEntries(got.map((r) => [r.code, r.name]));
        };
        const expectView = async (round: number) => {
          const want = await view();
          // The partner gives back what was written: the expectation is the test's own text.
          expect(want).toEqual(Object.fromEntries(rows.map((i) => [code(i), nameOf(i, round === 0 || i % 3 !== 0 ? 0 : round)])));
          const got = await held();
          expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
          for (const id of Object.keys(want)) expect(got[id], `record ${JSON.stringify(id)}`).toBe(want[id]);
        };

        const [first] = await lab.pull(store, connector);
        expect(first).toMatchObject({ status: 'succeeded', rowsRead: ROWS, rowsSent: ROWS, rowsRejected: 0 });
        await expectView(0);

        // Every third row changes twice, in two pulls: newest value each time.
        for (const round of [1, 2]) {
          const changed = rows.filter((i) => i % 3 === 0);
          await partner.exec(...changed.map((i) => `update t_${name} set name = ${literal(partner, nameOf(i, round))}, updated_at = ${partner.nowMinus(200 - 10 * round - i / 100)} where id = ${i}`));
          const [next] = await lab.pull(store, connector);
          expect(next).toMatchObject({ status: 'succeeded', rowsRead: changed.length, rowsSent: changed.length });
          await expectView(round);
        }

        // From the start again: every delivery record is found as itself, nothing is sent.
        await store.db.deleteFrom('stream_state').where('connector_id', '=', name).execute();
        const [again] = await lab.pull(store, connector);
        expect(again).toMatchObject({ status: 'succeeded', rowsRead: ROWS, rowsSent: 0, rowsUnchanged: ROWS });
        await expectView(2);
      });
    });
  }
}
