/**
 * The quick `date-time` check answers as Ajv's full format also where Ajv reads the seconds
 * as a double: `59.` followed by fifteen nines or more is 60 to Ajv, not a leap second
 * outside 23:59, so refused; the quick check must not accept it. Checked on the format
 * itself, through the validator, and on records pulled from text columns of PostgreSQL and
 * MariaDB into the store (the invalid instant is rejected, not stored).
 */
import fc from 'fast-check';
import ajvFormats from 'ajv-formats/dist/formats.js';
import { quickDateTime } from '../../src/mapping/date-time-format.ts';
import { validate } from '../../src/mapping/validator.ts';
import { TEST_DIALECTS } from '../helpers/partner.ts';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test } from '../fixture.ts';
import { builtin } from './fixtures.ts';

const full = (ajvFormats.fullFormats['date-time'] as { validate: (text: string) => boolean }).validate;
const quick = quickDateTime(full);

const LONG_NINES = ['2024-01-01T00:00:59.9999999999999999Z', '2024-01-01T12:34:59.999999999999999Z', '2024-06-30T00:59:59.99999999999999999999Z'];

describe('date-time format, long fractions', () => {
  test('fractions Ajv rounds to 60 seconds are refused as Ajv refuses them', () => {
    for (const text of LONG_NINES) {
      expect(full(text)).toBe(false);
      expect(quick(text)).toBe(false);
    }
    // 23:59 makes the rounded 60 a leap second to Ajv: accepted by both.
    expect(quick('2024-12-31T23:59:59.9999999999999999Z')).toBe(full('2024-12-31T23:59:59.9999999999999999Z'));
    const instant = fc.tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }), fc.integer({ min: 55, max: 59 }),
      fc.stringMatching(/^[0-9]{0,3}9{0,25}[0-9]{0,2}$/))
      .map(([h, m, s, f]) => `2024-02-29T${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${s}${f ? `.${f}` : ''}Z`);
    fc.assert(fc.property(instant, (text) => quick(text) === full(text)), { numRuns: 20_000 });
  });

  test('a record with such an instant is refused by the validator, naming the field', () => {
    const record = { id: 't1', customer_id: 'c1', amount: 12.5, currency: 'USD', status: 'paid', created_at: LONG_NINES[0] };
    expect(validate(builtin('transactions'), record)).toMatchObject({ ok: false, fields: ['created_at'] });
  });

  for (const dialect of TEST_DIALECTS) {
    test(`a pulled text column holding such an instant is rejected, not stored (${dialect})`, async ({ lab }) => {
      const partner = await lab.partner(dialect);
      const store = await lab.store();
      const t = partner.types;
      const name = lab.unique('dtl');
      await lab.view(partner, name, `id ${t.bigint} primary key, created ${t.text} not null, updated_at ${t.timestamp} not null`,
        `values (1, '${LONG_NINES[0]}', ${partner.nowMinus(60)}), (2, '2024-01-01T00:00:59.999999Z', ${partner.nowMinus(50)})`);
      const connector = await lab.connector(store, partner, {
        id: name, source: 'settle_seconds: 0',
        body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, reject_threshold: 0.9, fields: { id: id, created_at: created } }
`,
      });
      const [run] = await lab.pull(store, connector);
      expect(run).toMatchObject({ status: 'succeeded', rowsRead: 2, rowsRejected: 1 });
      expect(await readResources(store.db, connector.tenant, 'contacts')).toEqual([{ id: '2', created_at: '2024-01-01T00:00:59.999999Z' }]);
    });
  }
});
