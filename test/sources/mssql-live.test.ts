/**
 * SQL Server on a live server, mirroring the PostgreSQL and MariaDB tests: keyset pages
 * through ties on datetime2(7), datetime (1/300 s ticks), rowversion and bigint cursors;
 * 100 ns survives to the watermark; a late commit inside the settle window is not lost; a
 * credential that can write is refused before any read. Runs where MSSQL_URL is set or a
 * Docker engine answers (mssql-server.ts); elsewhere every test is reported as skipped, with
 * the reason in the suite's name.
 */
import { randomBytes } from 'node:crypto';
import { afterAll } from 'vitest';
import { PermanentError } from '../../src/errors.ts';
import { networkPolicy } from '../../src/security/network-policy.ts';
import { openSource } from '../../src/sources/source-pools.ts';
import type { ReadSpec, Source } from '../../src/sources/source.ts';
import type { RegisteredConnector } from '../../src/store/connector-registry.ts';
import { loadWatermark } from '../../src/store/delivery-state.ts';
import { openAdminTransaction } from '../helpers/admin-transaction.ts';
import { mssqlExec, mssqlUrl } from '../helpers/databases.ts';
import { resolveMssqlServer } from '../helpers/mssql-server.ts';
import { RO_PASSWORD, RO_USER, type Partner } from '../helpers/partner.ts';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test, type Lab, type LabStore } from '../fixture.ts';
import { readAll, series, settingsFor } from './source-fixtures.ts';

const server = await resolveMssqlServer();
const title = server.url ? `mssql live (on ${server.reason})` : `mssql live (skipped: ${server.reason}; set MSSQL_URL to run)`;
if (!server.url) process.stderr.write(`[${title}]\n`);

/** A Source on the partner as its read-only user; encrypted, as the test server's certificate is self-signed. */
function sourceOn(partner: Partner): Source {
  const url = new URL(partner.url);
  url.username = RO_USER;
  url.password = RO_PASSWORD;
  url.port ||= '1433';
  // The live server's host may be private; the suite allows what REACH_PULLER_ALLOW_PRIVATE_NETWORKS allows.
  return openSource(settingsFor('mssql', url.toString(), { ssl: { mode: 'require' }, networkPolicy: networkPolicy(process.env) }));
}

/** 2024-01-01 plus an expression of seconds or nanoseconds, as datetime2(7). */
const at = (unit: 'second' | 'nanosecond', amount: string) => `DATEADD(${unit}, ${amount}, CAST('2024-01-01T00:00:00' AS datetime2(7)))`;

describe.skipIf(!server.url)(title, () => {
  afterAll(() => server.stop());

  describe('keyset reads', () => {
    /** The file's partner with tables `items`, `micro`, `ticks`, `versions` and `big`, and a Source on it. */
    let ready: Promise<{ partner: Partner; source: Source }> | undefined;
    const sourceOf = (lab: Lab) => (ready ??= (async () => {
      const partner = await lab.partner('mssql');
      await partner.exec(
        `CREATE TABLE items (tenant_id int NOT NULL, id bigint NOT NULL, updated_at datetime2(7) NULL, tenant nvarchar(10) NOT NULL,
          PRIMARY KEY (tenant_id, id))`,
        // 25 rows share each second (ties across every page of 7); every 50th has no cursor.
        `INSERT INTO items SELECT g % 3, g, CASE WHEN g % 50 = 0 THEN NULL ELSE ${at('second', 'g / 25')} END,
          CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END FROM ${series('mssql', 250)}`,
        'CREATE TABLE micro (id int PRIMARY KEY, at_local datetime2(7) NOT NULL, at_offset datetimeoffset(7) NOT NULL)',
        // 3000 rows inside 100 µs: 1000 distinct 100 ns steps, three rows each; the offset column
        // holds the same instants written at +02:00.
        `INSERT INTO micro SELECT g, ${at('nanosecond', '100 * (g % 1000)')},
          TODATETIMEOFFSET(DATEADD(hour, 2, ${at('nanosecond', '100 * (g % 1000)')}), '+02:00') FROM ${series('mssql', 3000)}`,
        'CREATE TABLE ticks (id int PRIMARY KEY, at_tick datetime NOT NULL)',
        `INSERT INTO ticks VALUES ${TICK_ROWS.map((g) => `(${g}, '2024-01-01T00:00:00.${tickMs(g)}')`).join(', ')}`,
        'CREATE TABLE versions (id int PRIMARY KEY, note nvarchar(20) NOT NULL, rv rowversion NOT NULL)',
        `INSERT INTO versions (id, note) SELECT g, 'v1' FROM ${series('mssql', 30)}`,
        'CREATE TABLE big (id bigint PRIMARY KEY, version bigint NOT NULL)',
        `INSERT INTO big SELECT 9007199254740993 + g, 9007199254740993 + g / 3 FROM ${series('mssql', 30)}`,
      );
      await partner.grantReadOnly();
      return { partner, source: sourceOn(partner) };
    })());
    afterAll(async () => {
      await (await ready?.catch(() => undefined))?.source.close();
    });

    const G = Array.from({ length: 250 }, (_, i) => i + 1);
    const items: ReadSpec = {
      view: 'items', columns: ['tenant_id', 'id', 'tenant'], primaryKey: ['tenant_id', 'id'],
      cursor: 'updated_at', cursorKind: 'local', cursorType: 'datetime2', filter: {},
    };

    test('pages through datetime2(7) ties of 25 rows with pages of 7 and a composite key, every row once, in order', async ({ lab }) => {
      const { source } = await sourceOf(lab);
      const { rows, positions } = await readAll(source, items, 7);
      const expected = G.filter((g) => g % 50 !== 0).sort((a, b) => Math.floor(a / 25) - Math.floor(b / 25) || a % 3 - b % 3 || a - b);
      expect(rows.map((r) => `${r.tenant_id}:${r.id}`)).toEqual(expected.map((g) => `${g % 3}:${g}`));
      expect(positions[0]).toEqual({ cursor: '2024-01-01 00:00:00.0000000', key: ['0', '3'] });
      expect(positions.at(-1)).toEqual({ cursor: '2024-01-01 00:00:09.0000000', key: ['2', '248'] });
    });

    test('binds filter values: a quote-laden value matches nothing and harms nothing', async ({ lab }) => {
      const { source } = await sourceOf(lab);
      expect((await readAll(source, { ...items, filter: { tenant: "x'; DROP TABLE items; --" } }, 50)).rows).toHaveLength(0);
      const { rows } = await readAll(source, { ...items, filter: { tenant: 'a', tenant_id: 1 } }, 50);
      expect(rows.map((r) => Number(r.id))).toEqual(
        G.filter((g) => g % 2 === 0 && g % 3 === 1 && g % 50 !== 0).sort((a, b) => Math.floor(a / 25) - Math.floor(b / 25) || a - b),
      );
    });

    for (const [column, kind, cursorType, render] of [
      ['at_local', 'local', 'datetime2', (k: number) => `2024-01-01 00:00:00.${String(k).padStart(7, '0')}`],
      ['at_offset', 'instant', 'datetimeoffset', (k: number) => `2024-01-01T00:00:00.${String(k).padStart(7, '0')}Z`],
    ] as const) {
      test(`pages 3000 rows inside 100 µs by 100 ns (${cursorType}) to the end exactly, every cursor with 7 digits`, async ({ lab }) => {
        const { source } = await sourceOf(lab);
        const spec: ReadSpec = { view: 'micro', columns: ['id'], primaryKey: ['id'], cursor: column, cursorKind: kind, cursorType, filter: {} };
        const { rows, positions } = await readAll(source, spec, 128);
        const expected = Array.from({ length: 3000 }, (_, i) => i + 1).sort((a, b) => (a % 1000) - (b % 1000) || a - b);
        expect(rows.map((r) => r.id)).toEqual(expected);
        expect(positions.map((p) => p.cursor)).toEqual(expected.map((g) => render(g % 1000)));
      });
    }

    test('pages datetime ties on its 1/300 s ticks with pages of 4, every row once: bounds compare as datetime, not datetime2', async ({ lab }) => {
      const { source } = await sourceOf(lab);
      const spec: ReadSpec = { view: 'ticks', columns: ['id'], primaryKey: ['id'], cursor: 'at_tick', cursorKind: 'local', cursorType: 'datetime', filter: {} };
      const { rows, positions } = await readAll(source, spec, 4);
      // .003 is stored as 1/300 s (.00333...): as datetime2 the bound .0030000 would sit below
      // its own rows, and every tie cut by a page would be read twice.
      expect(rows.map((r) => r.id)).toEqual(TICK_ROWS);
      expect(positions.map((p) => p.cursor)).toEqual(TICK_ROWS.map((g) => `2024-01-01 00:00:00.${tickMs(g)}0000`));
    });

    test('reads rowversion as its decimal bigint, pages by it, and after an update reads only the updated rows', async ({ lab }) => {
      const { partner, source } = await sourceOf(lab);
      const column = (await source.describeView('versions')).find((c) => c.name === 'rv')!;
      expect(column.dataType).toBe('timestamp'); // INFORMATION_SCHEMA's name for rowversion
      const spec: ReadSpec = { view: 'versions', columns: ['id', 'note'], primaryKey: ['id'], cursor: 'rv', cursorKind: source.cursorKind(column), cursorType: column.dataType, filter: {} };
      const stored = async () => (await partner.query<{ id: number; v: string }>('SELECT id, CAST(rv AS bigint) AS v FROM versions ORDER BY rv'))
        .map((r) => ({ cursor: String(r.v), key: [String(r.id)] }));
      const first = await readAll(source, spec, 4);
      expect(first.positions).toEqual(await stored());
      await partner.exec("UPDATE versions SET note = 'v2' WHERE id = 17", "UPDATE versions SET note = 'v2' WHERE id = 3");
      // Updated rows move to the end of rowversion order.
      expect((await readAll(source, spec, 4)).positions).toEqual(await stored());
      const after = await source.withReadSession((s) => s.readPage(spec, { after: first.positions.at(-1), limit: 10 }));
      expect(after.rows).toEqual([{ id: 17, note: 'v2' }, { id: 3, note: 'v2' }]);
    });

    test('plans a backfill from canonical stats: the largest rowversion as its decimal bigint, the largest datetime2 with 7 digits', async ({ lab }) => {
      const { partner, source } = await sourceOf(lab);
      const column = (await source.describeView('versions')).find((c) => c.name === 'rv')!;
      const versions: ReadSpec = { view: 'versions', columns: ['id'], primaryKey: ['id'], cursor: 'rv', cursorKind: source.cursorKind(column), cursorType: column.dataType, filter: {} };
      const [top] = await partner.query<{ v: string }>('SELECT CAST(MAX(rv) AS bigint) AS v FROM versions');
      expect(await source.withReadSession((s) => s.cursorStats(versions))).toEqual({ rows: 30, max: String(top!.v) });
      // 250 rows, every 50th without a cursor; the last with one is 249, at second 249 / 25 = 9.
      expect(await source.withReadSession((s) => s.cursorStats(items))).toEqual({ rows: 245, max: '2024-01-01 00:00:09.0000000' });
    });

    test('round-trips bigint cursors and keys beyond 2^53 exactly', async ({ lab }) => {
      const { source } = await sourceOf(lab);
      const spec: ReadSpec = { view: 'big', columns: ['id', 'version'], primaryKey: ['id'], cursor: 'version', cursorKind: 'integer', cursorType: 'bigint', filter: {} };
      const { rows, positions } = await readAll(source, spec, 4);
      const expected = Array.from({ length: 30 }, (_, i) => i + 1).map((g) => ({
        cursor: String(9007199254740993n + BigInt(Math.floor(g / 3))),
        key: [String(9007199254740993n + BigInt(g))],
      }));
      expect(positions).toEqual(expected);
      expect(rows.map((r) => r.version)).toEqual(expected.map((p) => p.cursor));
    });

    test('reads the clock in UTC with 7 digits and reports a missing view as RP_VIEW_MISSING', async ({ lab }) => {
      const { source } = await sourceOf(lab);
      const clock = await source.withReadSession((s) => s.clockUtc());
      expect(clock).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$/);
      expect(Math.abs(Date.parse(clock) - Date.now())).toBeLessThan(60_000);
      await expect(source.describeView('no_such_view')).rejects.toMatchObject({ code: 'RP_VIEW_MISSING' });
    });
  });

  describe('incremental pull', () => {
    let store: Promise<LabStore> | undefined;

    /** A table + view of contacts on `partner`, and a connector reading it as the read-only user. */
    async function setup(lab: Lab, partner: Partner, options: { settle: number; pageSize: number; cursor?: 'rv' }) {
      const id = lab.unique('c');
      const cursorColumn = options.cursor === 'rv' ? 'rv rowversion NOT NULL' : 'updated_at datetime2(7) NULL';
      await lab.view(partner, id, `id bigint PRIMARY KEY, email nvarchar(255) NULL, ${cursorColumn}`);
      const connector = await lab.connector(await (store ??= lab.store()), partner, {
        id, tenant: `tenant-${id}`,
        // The SELECT-only user passes the privilege inspection: public's permissions are not writes.
        source: `settle_seconds: ${options.settle}\nrequire_read_only_user: true`,
        body: `streams:
  - { name: contacts, view: v_${id}, schema: contacts, primary_key: [id], cursor: ${options.cursor ?? 'updated_at'}, page_size: ${options.pageSize},
      fields: { id: id, email: email } }
` });
      return { id, connector };
    }

    async function pull(lab: Lab, connector: RegisteredConnector) {
      const [summary] = await lab.pull(await store!, connector);
      if (summary!.error) throw summary!.error;
      return summary!;
    }

    /** The view's rows as the records they must become, and what the store holds. */
    const expected = async (partner: Partner, id: string) =>
      (await partner.query<{ id: string; email: string }>(`SELECT id, email FROM v_${id} WHERE updated_at IS NOT NULL ORDER BY id`))
        .map((r) => ({ id: String(r.id), email: r.email }));
    const delivered = async (connector: RegisteredConnector) => readResources((await store!).db, connector.tenant, 'contacts');

    test('delivers every row of a datetime2(7) tie that spans page boundaries exactly once; the watermark keeps 100 ns', async ({ lab }) => {
      const partner = await lab.partner('mssql');
      const { id, connector } = await setup(lab, partner, { settle: 0, pageSize: 7 });
      // 30 rows tie on one cursor; ten more on distinct seconds, each with its own 100 ns digit.
      const values = Array.from({ length: 40 }, (_, i) =>
        `(${i + 1}, 'u${i}@example.com', '${i < 30 ? '2024-01-01T10:00:00.1234567' : `2024-01-01T10:00:0${(i % 9) + 1}.000000${(i % 9) + 1}`}')`);
      await partner.exec(`INSERT INTO t_${id} VALUES ${values.join(', ')}`);
      const first = await pull(lab, connector);
      expect([first.rowsRead, first.rowsSent]).toEqual([40, 40]);
      expect(first.watermarkAfter).toEqual({ cursor: '2024-01-01 10:00:09.0000009', key: ['36'] });
      expect(await delivered(connector)).toEqual(await expected(partner, id));
      // A row that arrives later on the watermark's own 100 ns with a higher key is still read.
      await partner.exec(`INSERT INTO t_${id} VALUES (100, 'tie@example.com', '2024-01-01T10:00:09.0000009')`);
      const second = await pull(lab, connector);
      expect(second.rowsRead).toBe(1);
      expect(second.watermarkAfter).toEqual({ cursor: '2024-01-01 10:00:09.0000009', key: ['100'] });
      expect(await delivered(connector)).toEqual(await expected(partner, id));
    });

    test('picks up a late-committing transaction whose cursor is older than rows already pulled', async ({ lab }) => {
      // Row versioning for READ COMMITTED (Azure SQL Database's default): a reader passes an
      // uncommitted row as PostgreSQL's snapshot does, instead of waiting on its lock.
      const partner = await lab.partner('mssql', 'rcsi');
      await mssqlExec(await mssqlUrl(), `ALTER DATABASE [${partner.database}] SET READ_COMMITTED_SNAPSHOT ON WITH ROLLBACK IMMEDIATE`);
      const { id, connector } = await setup(lab, partner, { settle: 3, pageSize: 7 });
      const late = await openAdminTransaction(partner);
      // Stamped 2 s ago and uncommitted across a pull, while a row stamped after it commits at
      // once: without the settle window the first pull would pass the late row for good.
      await late.run(`INSERT INTO t_${id} VALUES (1, 'late@x.io', ${partner.nowMinus(2)})`);
      await partner.exec(`INSERT INTO t_${id} VALUES (2, 'early@x.io', ${partner.nowMinus(10)}), (3, 'after@x.io', ${partner.nowMinus(1)})`);
      const first = await pull(lab, connector);
      expect(first.rowsRead).toBe(1);
      await late.commit();
      await new Promise((r) => setTimeout(r, 2500));
      await pull(lab, connector);
      expect(await delivered(connector)).toHaveLength(3);
      expect(await delivered(connector)).toEqual(await expected(partner, id));
    });

    test('on a rowversion cursor, reads stop below a transaction still open (MIN_ACTIVE_ROWVERSION) and pick its row up once it commits', async ({ lab }) => {
      const partner = await lab.partner('mssql', 'rcsi');
      await mssqlExec(await mssqlUrl(), `ALTER DATABASE [${partner.database}] SET READ_COMMITTED_SNAPSHOT ON WITH ROLLBACK IMMEDIATE`);
      const { id, connector } = await setup(lab, partner, { settle: 0, pageSize: 7, cursor: 'rv' });
      await partner.exec(`INSERT INTO t_${id} (id, email) VALUES (1, 'first@x.io')`);
      const late = await openAdminTransaction(partner);
      // The open transaction takes its rowversion now; the row after it commits at once with a
      // higher one. A read past that row would leave the late one behind the watermark forever.
      await late.run(`INSERT INTO t_${id} (id, email) VALUES (2, 'late@x.io')`);
      await partner.exec(`INSERT INTO t_${id} (id, email) VALUES (3, 'after@x.io')`);
      const first = await pull(lab, connector);
      expect(first.rowsRead).toBe(1);
      expect((await delivered(connector)).map((r) => r.id)).toEqual(['1']);
      await late.commit();
      await pull(lab, connector);
      expect(await delivered(connector)).toEqual(
        (await partner.query<{ id: string; email: string }>(`SELECT id, email FROM v_${id} ORDER BY id`)).map((r) => ({ id: String(r.id), email: r.email })));
      expect(await delivered(connector)).toHaveLength(3);
    });
  });

  describe('require_read_only_user', () => {
    // The logins these tests make (some sysadmin) take a password made for this run, none in the repository.
    process.env.RP_TEST_W_PASSWORD = `rp-w-${randomBytes(18).toString('base64url')}`;

    // Each grant gives a login that can also SELECT one more way to write; the refusal names it.
    for (const [what, grant, named] of [
      ['db_datawriter', (user: string) => [`ALTER ROLE db_datawriter ADD MEMBER [${user}]`], 'database role db_datawriter'],
      ['ALTER on the database', (user: string) => [`GRANT ALTER TO [${user}]`], 'ALTER on database'],
      ['CONTROL on the database', (user: string) => [`GRANT CONTROL TO [${user}]`], 'CONTROL on database'],
    ] as const) {
      test(`refuses a login with ${what} before any read, naming it`, async ({ lab }) => {
        await refused(lab, what.split(' ')[0]!.toLowerCase(), (partner, user) => partner.exec(...grant(user)), named);
      });
    }
    for (const role of ['dbcreator', 'sysadmin']) {
      test(`refuses a login in the ${role} server role before any read, naming it`, async ({ lab }) => {
        await refused(lab, role, async (_partner, user) => void (await mssqlExec(await mssqlUrl(), `ALTER SERVER ROLE ${role} ADD MEMBER [${user}]`)), `server role ${role}`);
      });
    }

    // rv19: grants below the database scope, and impersonation, that let a SELECT user write. PostgreSQL's
    // inspection refuses table-level INSERT/UPDATE/DELETE and MariaDB's every grant at any level; SQL Server's
    // reads only fn_my_permissions(NULL, 'DATABASE') (the DATABASE securable: no schema, object or user
    // permissions) and fixed roles, and SQL Server has no read-only session: the credential is the only guard.
    // Each case first proves, as the login, that it writes; then the pull must be refused.
    for (const [tag, what, grant, write, named] of [
      ['schemains', 'INSERT, UPDATE, DELETE on schema dbo', (user: string) => [`GRANT INSERT, UPDATE, DELETE ON SCHEMA::dbo TO [${user}]`],
        (table: string) => `INSERT INTO ${table} VALUES (99, 'w@example.com', '2024-01-01T00:00:00')`, 'INSERT'],
      ['objupd', 'UPDATE on the table', (user: string, table: string) => [`GRANT UPDATE ON OBJECT::dbo.${table} TO [${user}]`],
        (table: string) => `UPDATE ${table} SET email = 'w@example.com'`, 'UPDATE'],
      ['schemaalter', 'ALTER on schema dbo', (user: string) => [`GRANT ALTER ON SCHEMA::dbo TO [${user}]`],
        (table: string) => `ALTER TABLE ${table} ADD extra int NULL`, 'ALTER'],
      ['schemaexec', 'EXECUTE on schema dbo (a dbo procedure that writes, by ownership chaining)',
        (user: string, table: string) => [`CREATE PROCEDURE dbo.p_${user} AS INSERT INTO ${table} VALUES (99, 'w@example.com', '2024-01-01T00:00:00')`, `GRANT EXECUTE ON SCHEMA::dbo TO [${user}]`],
        (_table: string, user: string) => `EXEC dbo.p_${user}`, 'EXECUTE'],
      ['impdbo', 'IMPERSONATE on user dbo', (user: string) => [`GRANT IMPERSONATE ON USER::dbo TO [${user}]`],
        (table: string) => `EXECUTE AS USER = N'dbo'; INSERT INTO ${table} VALUES (99, 'w@example.com', '2024-01-01T00:00:00'); REVERT`, 'IMPERSONATE'],
    ] as const) {
      test(`refuses a login with ${what} before any read, naming it`, async ({ lab }) => {
        await refused(lab, tag, async (partner, user, table) => {
          await partner.exec(...grant(user, table));
          // The grant writes: the login itself changes the table.
          await partner.exec(`EXECUTE AS LOGIN = N'${user}'; ${write(table, user)}; REVERT`);
        }, named);
      });
    }
    test('refuses a login with IMPERSONATE on the admin login (server scope) before any read, naming it', async ({ lab }) => {
      await refused(lab, 'implogin', async (partner, user, table) => {
        // The admin login of MSSQL_URL (sa on the container) can write anything.
        const admin = decodeURIComponent(new URL(await mssqlUrl()).username);
        await mssqlExec(await mssqlUrl(), `GRANT IMPERSONATE ON LOGIN::[${admin}] TO [${user}]`);
        await partner.exec(`EXECUTE AS LOGIN = N'${user}'; EXECUTE AS LOGIN = N'${admin}'; INSERT INTO ${table} VALUES (99, 'w@example.com', '2024-01-01T00:00:00'); REVERT; REVERT`);
      }, 'IMPERSONATE');
    });

    /** A login (and its user) that can SELECT and `grant` allows more, a connector as it on a view that fails when read: the pull is refused. */
    async function refused(lab: Lab, tag: string, grant: (partner: Partner, user: string, table: string) => Promise<void>, named: string) {
      const partner = await lab.partner('mssql', 'privileges');
      const store = await lab.store(`store_${tag}`);
      const user = `rp_w_${tag}_${lab.run}`;
      await mssqlExec(await mssqlUrl(), `CREATE LOGIN [${user}] WITH PASSWORD = N'${process.env.RP_TEST_W_PASSWORD}', CHECK_POLICY = OFF`);
      try {
        await refusedAs(lab, partner, store, user, grant, named);
      } finally {
        // A login is the server's, not the partner database's: dropped here whatever the outcome, its sessions ended first.
        const master = await mssqlUrl();
        const sessions = await mssqlExec<{ id: number }>(master, `SELECT session_id AS id FROM sys.dm_exec_sessions WHERE login_name = N'${user}'`);
        await mssqlExec(master, ...sessions.map((s) => `KILL ${s.id}`), `DROP LOGIN [${user}]`);
      }
    }

    /** refused's body, as the login `user` it made. */
    async function refusedAs(lab: Lab, partner: Partner, store: LabStore, user: string, grant: (partner: Partner, user: string, table: string) => Promise<void>, named: string) {
      const name = lab.unique('pp');
      const { table } = await lab.view(partner, name, 'id int PRIMARY KEY, email nvarchar(255) NOT NULL, updated_at datetime2(7) NOT NULL',
        "VALUES (1, 'a@example.com', '2024-01-01T00:00:00')");
      // Reading `trap` raises (a text that is no int, per row): a refusal after the first read would fail with that error instead.
      const trap = `v_trap_${name}`;
      await partner.exec(
        `CREATE VIEW ${trap} AS SELECT id, email, updated_at FROM ${table} WHERE CAST(CONCAT('the view was read ', id) AS int) = 1`,
        `CREATE USER [${user}] FOR LOGIN [${user}]`, `GRANT SELECT ON SCHEMA::dbo TO [${user}]`);
      await grant(partner, user, table);
      await expect(partner.query(`SELECT * FROM ${trap}`)).rejects.toThrow(/the view was read/);
      const id = lab.unique('rw');
      const connector = await lab.connector(store, { ...partner, sourceYaml: (extra?: string) => partner.sourceYaml(extra).replace(`user: ${RO_USER}`, `user: ${user}`).replace('RP_TEST_RO_PASSWORD', 'RP_TEST_W_PASSWORD') },
        { id, source: 'require_read_only_user: true\nsettle_seconds: 0', body: `streams:
  - { name: s, view: ${trap}, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: id, email: email } }
` });
      const error = await lab.pull(store, connector).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PermanentError);
      expect(error).toMatchObject({ code: 'RP_SOURCE_WRITABLE', message: expect.stringContaining(named) });
      expect(await readResources(store.db, connector.tenant, 'contacts')).toEqual([]);
      expect(await loadWatermark(store.db, { connectorId: id, stream: 's' })).toBeUndefined();
    }
  });
});

/** `ticks`: 300 rows on 101 datetime values, three per tick of 1/300 s, and their millisecond text as SQL Server prints it. */
const TICK_ROWS = Array.from({ length: 300 }, (_, i) => i + 1);
function tickMs(g: number): string {
  // Tick k is k/300 s: datetime rounds it to .000, .003 or .007 (k = 1: 3.33 ms -> .003, k = 2: 6.67 ms -> .007).
  return String(Math.round((Math.floor(g / 3) * 10) / 3)).padStart(3, '0');
}
