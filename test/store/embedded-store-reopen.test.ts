/** Review of 7ff7258: a store created with PostgreSQL's 128 MB of shared buffers reopens with 16 MB, takes a 2k-row pull in large pages, and refuses a second opener. */
import path from 'node:path';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { PGlite } from '@electric-sql/pglite';
import { openStore } from '../../src/store/open-store.ts';
import { pglitePool } from '../../src/store/pglite-pool.ts';
import { migrateStore } from '../../src/store/migrate.ts';
import type { StoreSchema } from '../../src/store/schema.ts';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test } from '../fixture.ts';

describe('embedded store created before 16 MB buffers', () => {
  test('reopens, pulls 2000 rows in pages of 1000, and a second opener is refused', { timeout: 120_000 }, async ({ lab }) => {
    const home = await lab.tmpDir();
    const old = await PGlite.create(path.join(home, 'store'));
    expect((await old.query<{ shared_buffers: string }>('show shared_buffers')).rows[0]!.shared_buffers).toBe('128MB');
    const oldDb = new Kysely<StoreSchema>({ dialect: new PostgresDialect({ pool: pglitePool(old) }) });
    await migrateStore(oldDb);
    await oldDb.destroy();

    const store = await openStore({ home, command: 'test' });
    const { rows: [buffers] } = await sql<{ shared_buffers: string }>`show shared_buffers`.execute(store.db);
    expect(buffers!.shared_buffers).toBe('16MB');
    try {
      const partner = await lab.partner('postgres');
      const name = lab.unique('big');
      await lab.view(partner, name, 'id bigint primary key, code text not null, first_name text, updated_at timestamp(6) not null',
        `select g, 'c-' || g || repeat('x', 200), repeat('n', 500), now() - interval '60 second' + g * interval '1 microsecond' from generate_series(1, 2000) g`);
      const connector = await lab.connector(store, partner, {
        id: name, source: 'settle_seconds: 0',
        body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 1000, fields: { id: code, first_name: first_name } }
`,
      });
      expect(await lab.pull(store, connector)).toMatchObject([{ status: 'succeeded', rowsRead: 2000, rowsSent: 2000 }]);
      await partner.exec(`update t_${name} set first_name = 'v2', updated_at = now() - interval '10 second' + id * interval '1 microsecond'`);
      expect(await lab.pull(store, connector)).toMatchObject([{ status: 'succeeded', rowsRead: 2000, rowsSent: 2000 }]);
      const got = await readResources(store.db, connector.tenant, 'contacts');
      expect(got.length).toBe(2000);
      expect(got.every((r) => r.first_name === 'v2')).toBe(true);
      await expect(openStore({ home, command: 'second' })).rejects.toThrow();
    } finally {
      await store.close();
    }
  });
});
