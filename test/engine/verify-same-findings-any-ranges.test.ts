/**
 * Review of verify's ranges compared side by side (in-order.ts): whatever the ranges, the same
 * findings. A stream made messy on purpose after its pull (rows moved later and earlier across
 * ranges, one id on rows of several ranges, rows gone, a record never delivered, a record of
 * the built-in store altered, a new row, a row quarantined) is verified with pages of 3, 4, 5
 * and 7 rows and in one range; the findings (missing, stale, extra, quarantined, counts) must
 * agree, on PostgreSQL and on PGlite (one connection: the ranges' reads queue) stores, and with
 * --from/--to.
 */
import { sql } from 'kysely';
import { verifyConnector, type StreamVerification } from '../../src/engine/verify.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { describe, expect, test } from '../fixture.ts';
import { codedPeople } from '../helpers/coded-people.ts';

const findings = (r: StreamVerification) => ({
  missing: r.missing.count, stale: r.stale.count, extra: r.extra.count, quarantined: r.quarantined.count,
  examples: [...r.missing.examples, '|', ...r.stale.examples, '|', ...r.extra.examples],
  viewRows: r.viewRows, delivered: r.delivered, differences: r.differences,
});

describe('verify: the same findings whatever the ranges', () => {
  for (const kind of ['postgres', 'embedded'] as const) {
    test(`a messy stream (${kind} store)`, { timeout: 120_000 }, async ({ lab }) => {
      const partner = await lab.partner('postgres');
      const store = kind === 'postgres' ? await lab.store() : await lab.embeddedStore();
      const name = lab.unique('vpart');
      const at = (s: number) => `timestamp '2024-01-01 00:00:00' + interval '${s} second'`;
      // Rows 1..40 at seconds 1..40 (12 and 13 share second 12: ties), codes c1..c40; rows 9, 21 and 33 all map to 'dup'.
      const rows = Array.from({ length: 40 }, (_, i) => i + 1).map((id) =>
        `(${id}, '${[9, 21, 33].includes(id) ? 'dup' : `c${id}`}', '${id === 17 ? '12' : `415 555 01${String(id).padStart(2, '0')}`}', 'n${id}', ${at(id === 13 ? 12 : id)})`);
      const { table, connector } = await codedPeople(lab, store, partner, name, rows);
      expect(await lab.pull(store, connector)).toMatchObject([{ status: 'succeeded', rowsRejected: 1 }]);
      await partner.exec(
        // Moved later, changed: stale, its record's version in an earlier range than its row.
        `update ${table} set updated_at = ${at(38.5)}, first_name = 'moved' where id = 3`,
        // Moved later, content unchanged: in sync, its record's version in an earlier range than its row.
        `update ${table} set updated_at = ${at(27.5)} where id = 6`,
        // Moved earlier, changed: its record's version in a later range than its row.
        `update ${table} set updated_at = ${at(0.5)}, first_name = 'early' where id = 30`,
        // Gone: extra. And one whose id's other row remains (dup from 33 delivered; 33 gone, 9 and 21 remain).
        `delete from ${table} where id in (11, 33)`,
        // New, never delivered: missing.
        `insert into ${table} values (41, 'c41', '415 555 0141', 'n41', ${at(25.5)})`,
      );
      await store.db.deleteFrom('delivered').where('connector_id', '=', connector.id).where('external_id', '=', 'c20').execute();
      await sql`update resources set body = jsonb_set(body, '{first_name}', '"tampered"') where tenant_id = ${connector.tenant} and external_id = 'c26'`.execute(store.db);

      const run = async (pageSize: number, range: { from?: string; to?: string } = {}) =>
        findings((await verifyConnector({ store: store.db, connector, log: testLog, pageSize, ...range }))[0]!);
      const whole = await run(1000);
      // In one range: what was made (c30's row moved below --from is found extra within the bounds, as before this change).
      expect(whole).toEqual({ missing: 2, stale: 4, extra: 1, quarantined: 1, examples: ['c20', 'c41', '|', 'c26', 'c3', 'c30', 'dup', '|', 'c11'],
        viewRows: 39, delivered: 36, differences: 7 });
      for (const pageSize of [3, 4, 5, 7]) expect({ pageSize, ...(await run(pageSize)) }).toEqual({ pageSize, ...whole });
      const bounded = { from: '2024-01-01T00:00:05Z', to: '2024-01-01T00:00:31Z' };
      const wholeBounded = await run(1000, bounded);
      expect(wholeBounded).toMatchObject({ missing: 2, stale: 2, extra: 2, examples: ['c20', 'c41', '|', 'c26', 'dup', '|', 'c11', 'c30'] });
      for (const pageSize of [3, 5]) expect({ pageSize, ...(await run(pageSize, bounded)) }).toEqual({ pageSize, ...wholeBounded });
    });
  }
});
