/**
 * Partner rows that break text assumptions. Found by the review of the one delivery order: a
 * binary primary key (BINARY(16) UUIDs, bytea) kept as UTF-8 text skipped rows at page
 * boundaries; a NUL character (U+0000), which MariaDB stores and PostgreSQL text refuses,
 * failed every commit of its page and so stopped the stream for good.
 */
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test } from '../fixture.ts';

const FIRST_BYTES = ['10', '20', '85', '90', 'a0', 'f5'];

for (const dialect of ['mysql', 'postgres'] as const) {
  describe(`binary primary key with ties on the cursor (${dialect})`, () => {
    test('every row is delivered across page boundaries, and a second pull reads none again', async ({ lab }) => {
      const partner = await lab.partner(dialect);
      const store = await lab.store();
      const name = lab.unique('bk');
      const key = (b: string) => (dialect === 'mysql' ? `unhex('${b}414141414141414141414141414141')` : `decode('${b}414141414141414141414141414141', 'hex')`);
      const stamp = dialect === 'mysql' ? `'2024-01-01 10:00:00'` : `timestamp '2024-01-01 10:00:00'`;
      await lab.view(partner, name,
        dialect === 'mysql'
          ? 'uid binary(16) primary key, code varchar(20) not null, email varchar(100), updated_at datetime not null'
          : 'uid bytea primary key, code text not null, email text, updated_at timestamp(0) not null',
        `values ${FIRST_BYTES.map((b) => `(${key(b)}, 'c-${b}', '${b}@x.io', ${stamp})`).join(', ')}`);
      const connector = await lab.connector(store, partner, {
        id: name, source: 'settle_seconds: 0',
        body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [uid], cursor: updated_at, page_size: 2, fields: { id: code, email: email } }
`,
      });
      const [run] = await lab.pull(store, connector);
      expect(run).toMatchObject({ status: 'succeeded', rowsRead: 6 });
      expect(run!.watermarkAfter!.key).toEqual(['\\xf5414141414141414141414141414141']);
      const [again] = await lab.pull(store, connector);
      expect(again).toMatchObject({ status: 'succeeded', rowsRead: 0 });
      const got = await readResources(store.db, connector.tenant, 'contacts');
      expect(got.map((r) => r.id).sort()).toEqual(FIRST_BYTES.map((b) => `c-${b}`).sort());
    });
  });
}

for (const where of ['a field (built-in store)', 'the external id (Reach)'] as const) {
  describe(`a NUL character in ${where}`, () => {
    test('costs that one row (quarantined with its reason), not the stream', async ({ lab }) => {
      const partner = await lab.partner('mysql');
      const store = await lab.store();
      const reach = where.includes('Reach') ? await lab.reachApi() : undefined;
      const name = lab.unique('nul');
      const [code2, name2] = where.includes('Reach') ? ["concat('c', char(0), '2')", "'Bob'"] : ["'c2'", "concat('B', char(0), 'ob')"];
      await lab.view(partner, name, 'id bigint primary key, code varchar(40), first_name varchar(40), updated_at datetime(6) not null',
        `values (1, 'c1', 'Ann', utc_timestamp(6) - interval 60 second), (2, ${code2}, ${name2}, utc_timestamp(6) - interval 59 second),
                (3, 'c3', 'Cid', utc_timestamp(6) - interval 58 second)`);
      const connector = await lab.connector(store, partner, {
        id: name, reach, source: 'settle_seconds: 0',
        body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, reject_threshold: 0.5, fields: { id: code, first_name: first_name } }
`,
      });
      const [first] = await lab.pull(store, connector);
      expect(first).toMatchObject({ status: 'succeeded', rowsRead: 3, rowsSent: 2, rowsRejected: 1 });
      const [rejected] = await store.db.selectFrom('rejected_records').select(['source_key', 'external_id', 'fields', 'reason']).where('connector_id', '=', name).execute();
      expect(rejected).toMatchObject({ source_key: ['2'], reason: expect.stringContaining('NUL character (U+0000)') });
      expect(rejected!.fields).toEqual(where.includes('Reach') ? ['id'] : ['first_name']);
      await partner.exec(`insert into t_${name} values (4, 'c4', 'Dee', utc_timestamp(6) - interval 1 second)`);
      expect(await lab.pull(store, connector)).toMatchObject([{ status: 'succeeded', rowsRead: 1, rowsSent: 1 }]);
      if (reach) await reach.settled();
      const held = reach ? [...reach.resources(connector.tenant, 'contacts').keys()] : (await readResources(store.db, connector.tenant, 'contacts')).map((r) => String(r.id));
      expect(held.sort()).toEqual(['c1', 'c3', 'c4']);
    });
  });
}
