/**
 * A read session reads the partner clock before its transaction's snapshot: a ceiling drawn
 * from a clock read after the snapshot could pass rows committed in between, which the
 * snapshot does not show (MySQL's `START TRANSACTION WITH CONSISTENT SNAPSHOT` then
 * `UTC_TIMESTAMP()` did exactly that).
 */
import type { Knex } from 'knex';
import { openSource } from '../../src/sources/source-pools.ts';
import { SqlSource } from '../../src/sources/sql-source.ts';
import { TEST_DIALECTS } from '../helpers/partner.ts';
import { describe, expect, test } from '../fixture.ts';
import { settingsFor } from './source-fixtures.ts';

for (const dialect of TEST_DIALECTS) {
  describe(`read session on ${dialect}`, () => {
    test('reads the clock first, then opens the read-only snapshot, then reads', async ({ lab }) => {
      const partner = await lab.partner(dialect);
      await lab.view(partner, 'clock', `id ${partner.types.bigint} primary key, updated_at ${partner.types.timestamp} not null`,
        `values (1, ${partner.nowMinus(60)})`);
      const source = openSource(settingsFor(dialect, partner.url)) as SqlSource;
      const statements: string[] = [];
      const record = (q: Knex.Sql) => statements.push(q.sql.trim().split(/\s+/).slice(0, 3).join(' ').toUpperCase());
      source.knex.on('query', record);
      try {
        const clock = await source.withReadSession(async (session) => {
          await session.readPage({ view: 'v_clock', columns: ['id', 'updated_at'], primaryKey: ['id'], cursor: 'updated_at', cursorKind: 'instant', filter: {} }, { limit: 5 });
          return session.clockUtc();
        });
        expect(clock).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
        const begin = statements.findIndex((s) => s.startsWith('BEGIN') || s.startsWith('START TRANSACTION'));
        const clockAt = statements.findIndex((s) => s.includes('NOW()') || s.includes('UTC_TIMESTAMP(6)'));
        const read = statements.findIndex((s) => s.startsWith('SELECT') && !s.includes('NOW') && !s.includes('UTC_TIMESTAMP'));
        expect(clockAt).toBeGreaterThanOrEqual(0);
        expect(clockAt).toBeLessThan(begin);
        expect(begin).toBeLessThan(read);
      } finally {
        source.knex.off('query', record);
        await source.close();
      }
    });
  });
}
