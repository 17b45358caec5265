/**
 * `source.require_read_only_user: true`: a credential that can write is refused before any
 * read, naming its privileges; the partner's SELECT-only user pulls as usual.
 */
import { PermanentError } from '../../src/errors.ts';
import { loadWatermark } from '../../src/store/delivery-state.ts';
import { mysqlExec, MYSQL_URL, pgExec, PG_URL } from '../helpers/databases.ts';
import { RO_PASSWORD, RO_USER, TEST_DIALECTS, type Partner } from '../helpers/partner.ts';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test, type Lab, type LabStore } from '../fixture.ts';

const RW_USER = 'rp_sec_rw';

const stream = (view: string) => `streams:
  - { name: s, view: ${view}, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: id, email: email } }
`;

/** The partner's view of one row, a view that fails when read, and a user that can also INSERT. */
async function setUp(lab: Lab, partner: Partner): Promise<{ view: string; trap: string }> {
  const name = lab.unique('pp');
  const { table, view } = await lab.view(partner, name, `id integer primary key, email ${partner.types.text}, updated_at ${partner.types.timestamp}`,
    "values (1, 'a@example.com', '2024-01-01 00:00:00')");
  // Reading `trap` raises: a refusal that came after the first read would fail with that error instead.
  const trap = `v_trap_${name}`;
  if (partner.dialect === 'postgres') {
    await partner.exec(
      `create function boom_${name}() returns integer language plpgsql as $$ begin raise exception 'the view was read'; end $$`,
      `create view ${trap} as select id, email, updated_at from ${table} where boom_${name}() = 1`);
    await pgExec(PG_URL, `do $$ begin if not exists (select from pg_roles where rolname = '${RW_USER}') then create role ${RW_USER} login; end if; end $$`)
      .catch(() => undefined);
    await partner.exec(`grant usage on schema public to ${RW_USER}`, `grant select on all tables in schema public to ${RW_USER}`,
      `grant insert on ${table} to ${RW_USER}`);
  } else {
    await partner.exec(
      `create function boom_${name}() returns integer not deterministic begin signal sqlstate '45000' set message_text = 'the view was read'; return 1; end`,
      `create view ${trap} as select id, email, updated_at from ${table} where boom_${name}() = 1`);
    for (const host of ['%', 'localhost']) {
      await mysqlExec(MYSQL_URL, `create user if not exists '${RW_USER}'@'${host}' identified by '${RO_PASSWORD}'`,
        `grant select, insert on \`${partner.database}\`.* to '${RW_USER}'@'${host}'`);
    }
  }
  await partner.grantReadOnly();
  return { view, trap };
}

for (const dialect of TEST_DIALECTS) {
  describe(`require_read_only_user on ${dialect}`, () => {
    /** A connector reading `view` as `user` (the partner's YAML with its user swapped). */
    const connector = (lab: Lab, store: LabStore, partner: Partner, id: string, user: string, view: string) =>
      lab.connector(store, { ...partner, sourceYaml: (extra?: string) => partner.sourceYaml(extra).replace(`user: ${RO_USER}`, `user: ${user}`) },
        { id, source: 'require_read_only_user: true\nsettle_seconds: 0', body: stream(view) });

    test('refuses a credential that can INSERT before any read, naming the privilege', async ({ lab }) => {
      const partner = await lab.partner(dialect);
      const store = await lab.store();
      const { trap } = await setUp(lab, partner);
      // The trap really fails when read (so the refusal below cannot come after a read).
      await expect(partner.query(`select * from ${trap}`)).rejects.toThrow(/the view was read/);
      const id = lab.unique('rw');
      const rw = await connector(lab, store, partner, id, RW_USER, trap);
      const error = await lab.pull(store, rw).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PermanentError);
      expect((error as PermanentError).code).toBe('RP_SOURCE_WRITABLE');
      expect((error as PermanentError).message).toMatch(/INSERT/);
      expect(await readResources(store.db, rw.tenant, 'contacts')).toEqual([]);
      expect(await loadWatermark(store.db, { connectorId: id, stream: 's' })).toBeUndefined();
    });

    test('pulls with the SELECT-only user: the destination holds the view', async ({ lab }) => {
      const partner = await lab.partner(dialect);
      const store = await lab.store();
      const { view } = await setUp(lab, partner);
      const ro = await connector(lab, store, partner, lab.unique('ro'), RO_USER, view);
      const [summary] = await lab.pull(store, ro);
      expect(summary!.error).toBeUndefined();
      expect(summary!.rowsSent).toBe(1);
      const rows = await partner.query<{ id: number; email: string }>(`select id, email from ${view} order by id`);
      expect(await readResources(store.db, ro.tenant, 'contacts')).toEqual(rows.map((r) => ({ id: String(r.id), email: r.email })));
    });
  });
}
