import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sourceIdentity } from '../../src/config/source-identity.ts';
import { openPoolCount, openSource } from '../../src/sources/source-pools.ts';
import type { SqlSource } from '../../src/sources/sql-source.ts';
import { MYSQL_URL, PG_URL } from '../helpers/databases.ts';
import { freshDatabase, LIVE_DIALECTS, settingsFor, type LiveDialect } from './source-fixtures.ts';

/** Counts this database's sessions from an admin connection outside the pool. */
async function counter(dialect: LiveDialect, database: string): Promise<{ count(): Promise<number>; end(): Promise<void> }> {
  if (dialect === 'postgres') {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    return {
      count: async () => Number((await client.query('select count(*) as n from pg_stat_activity where datname = $1', [database])).rows[0].n),
      end: () => client.end(),
    };
  }
  const conn = await mysql.createConnection({ uri: MYSQL_URL });
  return {
    count: async () => Number(((await conn.query('select count(*) as n from information_schema.processlist where db = ?', [database]))[0] as { n: number }[])[0]!.n),
    end: () => conn.end(),
  };
}

describe('source key', () => {
  it('names a source without its password', () => {
    const key = sourceIdentity({ dialect: 'postgres', user: 'reader', host: 'db.example', port: 5432, database: 'shop' });
    expect(key).toBe('postgres://reader@db.example:5432/shop');
  });
});

for (const dialect of LIVE_DIALECTS) {
  describe(`${dialect} shared pools`, () => {
    const database = `rp_src_pools_${dialect}`;
    let url: string;
    beforeAll(async () => {
      url = await freshDatabase(dialect, database);
    });
    afterAll(() => {
      expect(openPoolCount()).toBe(0);
    });

    it('gives two connectors on one source one pool, capped by maxConnections, destroyed by the last close', async () => {
      const settings = settingsFor(dialect, url, { maxConnections: 2 });
      const a = openSource(settings) as SqlSource;
      const b = openSource({ ...settings }) as SqlSource;
      const other = openSource(settingsFor(dialect, url.replace(database, dialect === 'postgres' ? 'postgres' : 'test')));
      expect(a.knex).toBe(b.knex);
      expect((other as SqlSource).knex).not.toBe(a.knex);
      expect(openPoolCount()).toBe(2);
      await other.close();

      const sessions = await counter(dialect, database);
      try {
        const sleep = dialect === 'postgres' ? 'select pg_sleep(0.25)' : 'select sleep(0.25)';
        let running = true;
        let peak = 0;
        const sampling = (async () => {
          while (running) {
            peak = Math.max(peak, await sessions.count());
            await new Promise((r) => setTimeout(r, 20));
          }
        })();
        await Promise.all([a, b, a, b, a, b].map((source) => source.withReadSession((s) => s.raw(sleep))));
        running = false;
        await sampling;
        expect(peak).toBe(2);
      } finally {
        await sessions.end();
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
