/**
 * Review 8b: verify's probe of the built-in store (`#resourcesDiffering`, now a lateral LIMIT 1
 * per record) reports exactly missing / stale / extra on both stores: records altered, absent or
 * tombstoned in `resources`, a field mapped to null present there, an unmapped field added (no
 * difference), hostile ids (leading U+FEFF, newline, 2000 chars), a second stream writing the
 * same schema under another spelling of its name (each stream judged on its own fields only).
 */
import { sql } from 'kysely';
import { verifyConnector, type StreamVerification } from '../../src/engine/verify.ts';
import type { RegisteredConnector } from '../../src/store/connector-registry.ts';
import type { Store } from '../../src/store/open-store.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { describe, expect, test, type Lab } from '../fixture.ts';

const LONG = 'x'.repeat(2000);
const CODES = ['\ufeffbom', 'bom', 'nl\nx', LONG, 'alter', 'unmapped', 'gone', 'tomb', 'tombkept', 'nullf', 'nullok', 'sdel', 'sdel-late', 'never', 'extra1', 'plain'];
const NULL_EMAIL = new Set(['nullf', 'nullok']);
const lit = (s: string) => `convert_from(decode('${Buffer.from(s, 'utf8').toString('hex')}', 'hex'), 'UTF8')`;
const STORES: [string, (lab: Lab) => Promise<Store>][] = [
  ['PostgreSQL', (lab) => lab.store()],
  ['embedded PGlite', (lab) => lab.embeddedStore()],
];
const sorted = (xs: string[]) => [...xs].sort();

for (const [kind, open] of STORES) {
  describe(`review 8b: verify against the built-in store's records, ${kind} store`, () => {
    test('exactly the records that differ in a mapped field, are absent or tombstoned, are stale; nothing else', { timeout: 120_000 }, async ({ lab }) => {
      const partner = await lab.partner('postgres');
      const store = await open(lab);
      const name = lab.unique('r8s');
      const table = `t_${name}`;
      await lab.view(partner, name, 'id bigint primary key, code text not null, first_name text, email text, phone text, deleted_at timestamp(6), updated_at timestamp(6) not null',
        `values ${CODES.map((c, i) => `(${i + 1}, ${lit(c)}, 'f${i + 1}', ${NULL_EMAIL.has(c) ? 'null' : `'e${i + 1}@x.io'`}, '+1555000${String(i).padStart(4, '0')}',
          ${c === 'sdel' ? `now() - interval '60 second'` : 'null'}, now() - interval '60 second' + ${i} * interval '1 millisecond')`).join(', ')}`);
      await partner.exec(`create view v2_${name} as select id, code, phone, updated_at from ${table}`);
      await partner.grantReadOnly();
      // Two streams into one schema, named in two spellings.
      const connector = await lab.connector(store, partner, {
        id: name, source: 'settle_seconds: 0',
        body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, deleted: { column: deleted_at }, page_size: 4,
      fields: { id: code, first_name: first_name, email: email } }
  - { name: phones, view: v2_${name}, schema: Contacts, primary_key: [id], cursor: updated_at, page_size: 3, fields: { id: code, phone: phone } }
`,
      });
      const runs = await lab.pull(store, connector);
      expect(runs.map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
      const schemas = await sql<{ schema_name: string }>`select distinct schema_name from resources where tenant_id = ${connector.tenant}`.execute(store.db);
      expect(schemas.rows.map((r) => r.schema_name)).toEqual(['contacts']);

      const clean = await verify(store, connector);
      expect(clean.people).toMatchObject({ differences: 0, viewRows: CODES.length });
      expect(clean.phones).toMatchObject({ differences: 0, viewRows: CODES.length });

      // Round 1: the built-in store's records edited behind the puller's back.
      const setField = (id: string, field: string, value: string) =>
        sql`update resources set body = jsonb_set(body, ${`{${field}}`}::text[], to_jsonb(${value}::text)) where tenant_id = ${connector.tenant} and external_id = ${id}`.execute(store.db);
      for (const id of ['\ufeffbom', 'nl\nx', LONG, 'alter']) await setField(id, 'first_name', 'tampered');
      await setField('unmapped', 'city', 'Nowhere');
      const round1 = await verify(store, connector);
      expect(round1.people).toMatchObject({ differences: 4, missing: { count: 0 }, stale: { count: 4 }, extra: { count: 0 } });
      expect(sorted(round1.people.stale.examples)).toEqual(sorted(['\ufeffbom', 'nl\nx', LONG, 'alter']));
      // Only people maps first_name: phones has nothing to say.
      expect(round1.phones).toMatchObject({ differences: 0 });
      const repaired = await verify(store, connector, true);
      expect(repaired.people.repair).toMatchObject({ sent: 4 });
      expect((await verify(store, connector)).people).toMatchObject({ differences: 0 });

      // Round 2: absent, tombstoned, a field mapped to null present, a soft delete not delivered,
      // a record never delivered, a row gone from the view.
      await sql`delete from resources where tenant_id = ${connector.tenant} and external_id = 'gone'`.execute(store.db);
      await sql`update resources set deleted = true, body = '{}'::jsonb where tenant_id = ${connector.tenant} and external_id = 'tomb'`.execute(store.db);
      // A tombstone that kept its body: deleted all the same.
      await sql`update resources set deleted = true where tenant_id = ${connector.tenant} and external_id = 'tombkept'`.execute(store.db);
      await setField('nullf', 'email', 'leak@x.io');
      await sql`delete from resources where tenant_id = ${connector.tenant} and external_id = 'never'`.execute(store.db);
      await sql`delete from delivered where connector_id = ${connector.id} and stream = 'people' and external_id = 'never'`.execute(store.db);
      // Edited without moving the cursor: the delivered content differs from the row today.
      await partner.exec(`update ${table} set deleted_at = updated_at where code = 'sdel-late'`, `delete from ${table} where code = 'extra1'`);
      const round2 = await verify(store, connector);
      expect(round2.people).toMatchObject({ missing: { count: 1, examples: ['never'] }, stale: { count: 5 }, extra: { count: 1, examples: ['extra1'] }, differences: 7 });
      expect(sorted(round2.people.stale.examples)).toEqual(sorted(['gone', 'tomb', 'tombkept', 'nullf', 'sdel-late']));
      // phones: its records absent or tombstoned in the store are stale; extra1's row is gone from its view too.
      expect(round2.phones).toMatchObject({ missing: { count: 0 }, stale: { count: 4 }, extra: { count: 1, examples: ['extra1'] } });
      expect(sorted(round2.phones.stale.examples)).toEqual(sorted(['gone', 'tomb', 'tombkept', 'never']));
    });
  });
}

async function verify(store: Store, connector: RegisteredConnector, repair = false): Promise<Record<'people' | 'phones', StreamVerification>> {
  const reports = await verifyConnector({ store: store.db, connector, log: testLog, repair });
  return Object.fromEntries(reports.map((r) => [r.stream, r])) as Record<'people' | 'phones', StreamVerification>;
}
