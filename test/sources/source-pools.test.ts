import mysql from 'mysql2/promise';
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll } from 'vitest';
import { sourceIdentity } from '../../src/config/source-identity.ts';
import { openPoolCount, openSource } from '../../src/sources/source-pools.ts';
import type { SqlSource } from '../../src/sources/sql-source.ts';
import { MYSQL_URL } from '../helpers/databases.ts';
import { TEST_DIALECTS, type TestDialect } from '../helpers/partner.ts';
import { waitFor } from '../scheduler/ops-fixtures.ts';
import { describe, expect, test } from '../fixture.ts';
import { settingsFor } from './source-fixtures.ts';

/**
 * A gate on a database, from an admin connection outside the pool: while it is held, every
 * `statement` run in the database waits on it, and `waiting()` counts those statements (so
 * the sessions the pool has open at once), `sessions()` every other session of the database.
 */
async function gate(dialect: TestDialect, database: string, url: string) {
  if (dialect === 'postgres') {
    // In the database itself: PostgreSQL's advisory locks are per database.
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query('select pg_advisory_lock(4711)');
    const oid = "(select oid from pg_database where datname = $1)";
    return {
      statement: 'select pg_advisory_xact_lock_shared(4711) is null as waited',
      waiting: async () => Number((await client.query(`select count(*) as n from pg_locks where locktype = 'advisory' and not granted and database = ${oid}`, [database])).rows[0].n),
      sessions: async () => Number((await client.query('select count(*) as n from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [database])).rows[0].n),
      open: async () => void (await client.query('select pg_advisory_unlock(4711)')),
      end: () => client.end(),
    };
  }
  // MariaDB's user locks are server-wide: the name carries this run's database name.
  const conn = await mysql.createConnection({ uri: MYSQL_URL });
  const lock = `rp_gate_${database}`.slice(0, 64);
  await conn.query('select get_lock(?, 30)', [lock]);
  const count = async (where: string) =>
    Number(((await conn.query(`select count(*) as n from information_schema.processlist where db = ?${where}`, [database]))[0] as { n: number }[])[0]!.n);
  return {
    statement: `select get_lock('${lock}', 30) as got, release_lock('${lock}') as released`,
    waiting: () => count(" and state = 'User lock'"),
    sessions: () => count(''),
    open: async () => void (await conn.query('select release_lock(?)', [lock])),
    end: () => conn.end(),
  };
}

describe('source key', () => {
  test('names a source without its password', () => {
    const key = sourceIdentity({ dialect: 'postgres', user: 'reader', host: 'db.example', port: 5432, database: 'shop' });
    expect(key).toBe('postgres://reader@db.example:5432/shop');
  });
});

for (const dialect of TEST_DIALECTS) {
  describe(`${dialect} shared pools`, () => {
    afterAll(() => {
      expect(openPoolCount()).toBe(0);
    });

    test('gives two connectors on one source one pool, capped by maxConnections, destroyed by the last close', async ({ lab }) => {
      const partner = await lab.partner(dialect);
      const { url, database } = partner;
      const settings = settingsFor(dialect, url, { maxConnections: 2 });
      const a = openSource(settings) as SqlSource;
      const b = openSource({ ...settings }) as SqlSource;
      const other = openSource(settingsFor(dialect, url.replace(database, dialect === 'postgres' ? 'postgres' : 'test')));
      expect(a.knex).toBe(b.knex);
      expect((other as SqlSource).knex).not.toBe(a.knex);
      expect(openPoolCount()).toBe(2);
      await other.close();

      // Six statements at once through a pool of two: exactly two sessions open and run while
      // the gate holds them, and none more arrives (the other four wait in the pool, not the database).
      const held = await gate(dialect, database, url);
      let all: Promise<unknown> | undefined;
      try {
        all = Promise.all([a, b, a, b, a, b].map((source) => source.withReadSession((s) => s.raw(held.statement))));
        await waitFor('two statements at the gate', async () => (await held.waiting()) >= 2);
        await sleep(500);
        expect(await held.waiting()).toBe(2);
        expect(await held.sessions()).toBe(2);
      } finally {
        await held.open();
        await all;
        await held.end();
      }

      await a.close();
      await a.close(); // a second close of one connector must not release the other's hold
      expect(await b.withReadSession((s) => s.raw('select 1 as one'))).toEqual([{ one: 1 }]);
      expect(openPoolCount()).toBe(1);
      await b.close();
      expect(openPoolCount()).toBe(0);
      await expect(b.withReadSession((s) => s.clockUtc())).rejects.toThrow(/closed/);
    });
  });
}
