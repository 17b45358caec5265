/**
 * Verify compares a range while it reads the next (src/engine/in-order.ts); a record's finding
 * in a later range must still win over one in an earlier range. Two rows of the view map to
 * one external id, in adjacent ranges: the earlier range finds the record stale against the
 * later row's delivery, the later range (compared row by row, as it holds a real difference)
 * finds it in sync, and only the real difference is reported.
 */
import { verifyConnector } from '../../src/engine/verify.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { describe, expect, test } from '../fixture.ts';

describe('verify: one id in two adjacent ranges', () => {
  test('the later range\'s finding wins; the real difference is found', { timeout: 60_000 }, async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const name = lab.unique('vtwo');
    // Ranges of page_size 5 cut before each page's last cursor value: rows 1-4, 5-9, 10-14...
    const rows = Array.from({ length: 30 }, (_, i) => i + 1).map((id) => {
      const code = id === 4 || id === 7 ? 'dup' : `e${id}`;
      return `(${id}, '${code}', '${id === 4 ? 'early' : `n${id}`}', now() - interval '${600 - id} second')`;
    });
    await lab.view(partner, name, 'id bigint primary key, code text not null, first_name text, updated_at timestamp(6) not null',
      `values ${rows.join(', ')}`);
    const connector = await lab.connector(store, partner, {
      id: name, source: 'settle_seconds: 0',
      body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 5, fields: { id: code, first_name: first_name } }
`,
    });
    expect(await lab.pull(store, connector)).toMatchObject([{ status: 'succeeded' }]);
    // The real difference, in the later of the two ranges: a record never delivered.
    await store.db.deleteFrom('delivered').where('connector_id', '=', connector.id).where('external_id', '=', 'e8').execute();
    const [report] = await verifyConnector({ store: store.db, connector, log: testLog });
    expect({ stale: report!.stale, missing: report!.missing, extra: report!.extra, rangesDiffering: report!.rangesDiffering }).toEqual({
      stale: { count: 0, examples: [] }, missing: { count: 1, examples: ['e8'] }, extra: { count: 0, examples: [] }, rangesDiffering: 2,
    });
  });
});
