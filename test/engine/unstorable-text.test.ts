/**
 * Text the state store cannot hold is quarantined, never sent, and its quarantine entry is
 * written all the same (found in review: one such row wedged its stream, at every commit of
 * its page). PostgreSQL's `json` keeps a lone surrogate escape (`"\ud800"`) that the pg driver
 * turns into a JS string jsonb refuses; MariaDB text and keys hold U+0000, which PostgreSQL
 * text refuses. A SQL Server nvarchar can hold either.
 */
import type { RunSummary } from '../../src/engine/run-stream.ts';
import { listRejections } from '../../src/store/delivery-state.ts';
import type { TestDialect } from '../helpers/partner.ts';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test, type Lab } from '../fixture.ts';

/**
 * Pulls a view of `dialect` once into a fresh store: `columns` and `fill` make the table
 * (rows 3-41 good, so one bad row stays within the reject rate), `fields` the mapping.
 */
async function pullOnce(lab: Lab, dialect: TestDialect, columns: string, fill: string, fields: string) {
  const store = await lab.store();
  const partner = await lab.partner(dialect);
  const id = lab.unique('unstorable');
  await lab.view(partner, id, columns, fill);
  const connector = await lab.connector(store, partner, { id, tenant: `tenant-${id}`, source: 'settle_seconds: 0', body: `streams:
  - name: customers
    view: v_${id}
    schema: contacts
    primary_key: [id]
    cursor: updated_at
    fields:
${fields}
` });
  const [summary] = (await lab.pull(store, connector)) as RunSummary[];
  expect(summary!.error).toBeUndefined();
  return { landed: await readResources(store.db, `tenant-${id}`, 'contacts'), rejections: await listRejections(store.db, connector.id) };
}

const PG_GOOD_ROWS = `generate_series(3, 41) g`;
const PG_AT = `timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second'`;

describe('text the state store cannot hold', () => {
  test('a lone surrogate in a json column is quarantined; the rest of the page lands', async ({ lab }) => {
    const { landed, rejections: [entry] } = await pullOnce(lab, 'postgres', 'id bigint primary key, name text, tags json, updated_at timestamptz not null',
      `select g, 'ok', '["a"]'::json, ${PG_AT} from ${PG_GOOD_ROWS}
       union all values (2, 'bad', '["x\\ud800"]'::json, timestamptz '2024-01-01 00:00:01+00')`,
      '      id: id\n      first_name: name\n      tags: tags');
    expect(landed).toEqual(Array.from({ length: 39 }, (_, i) => ({ id: String(i + 3), first_name: 'ok', tags: ['a'] })));
    expect(entry).toMatchObject({ sourceKey: ['2'], fields: ['tags'] });
    expect(entry!.reason).toContain('lone UTF-16 surrogate');
  });

  test('an external id with a lone surrogate is quarantined; ids and fields with whole characters (emoji) land', async ({ lab }) => {
    // The id comes from a json column: text cannot hold a lone surrogate, json's escape can.
    const { landed, rejections: [entry] } = await pullOnce(lab, 'postgres', 'id bigint primary key, ref json, name text, updated_at timestamptz not null',
      `select g, to_json('g-' || g), 'ok', ${PG_AT} from ${PG_GOOD_ROWS}
       union all values (1, '"a-\\ud83d\\ude00"'::json, 'emoji', timestamptz '2024-01-01 00:00:00+00'),
         (2, '"a-\\udc00"'::json, 'bad', timestamptz '2024-01-01 00:00:01+00')`,
      '      id: ref\n      first_name: name');
    expect(landed).toHaveLength(40);
    expect(landed).toContainEqual({ id: 'a-\u{1F600}', first_name: 'emoji' });
    expect(landed.filter((r) => r.first_name === 'bad')).toEqual([]);
    expect(entry).toMatchObject({ sourceKey: ['2'], fields: ['id'] });
    expect(entry!.reason).toContain('lone UTF-16 surrogate');
  });

  for (const [what, bad] of [['a lone surrogate', '{"x\\ud800": 1}'], ['a NUL', '{"x\\u0000": 1}']] as const) {
    test(`${what} in a json object key is quarantined; the rest of the page lands`, async ({ lab }) => {
      const { landed, rejections: [entry] } = await pullOnce(lab, 'postgres', 'id bigint primary key, name text, tags json, updated_at timestamptz not null',
        `select g, 'ok', '{"a": 1}'::json, ${PG_AT} from ${PG_GOOD_ROWS}
         union all values (2, 'bad', '${bad}'::json, timestamptz '2024-01-01 00:00:01+00')`,
        '      id: id\n      first_name: name\n      extra: tags');
      expect(landed).toHaveLength(39);
      expect(entry).toMatchObject({ sourceKey: ['2'], fields: ['extra'] });
    });
  }

  test('a NUL in a MariaDB varchar key is quarantined, its entry written; the rest of the page lands', async ({ lab }) => {
    const { landed, rejections: [entry] } = await pullOnce(lab, 'mysql', 'id varchar(20) primary key, name text, updated_at datetime(6) not null',
      `select concat('k', seq), 'ok', timestamp '2024-01-01 00:00:00' + interval seq second from seq_3_to_41
       union all select concat('bad', char(0)), 'bad', timestamp '2024-01-01 00:00:01'`,
      '      id: id\n      first_name: name');
    expect(landed).toHaveLength(39);
    expect(entry).toMatchObject({ fields: ['id'] });
  });

  test('a NUL in text the json transform cannot parse (its reason quotes it) is quarantined; the rest of the page lands', async ({ lab }) => {
    const { landed, rejections: [entry] } = await pullOnce(lab, 'mysql', 'id bigint primary key, tags text, updated_at datetime(6) not null',
      `select seq, '["a"]', timestamp '2024-01-01 00:00:00' + interval seq second from seq_3_to_41
       union all select 2, concat('oops', char(0)), timestamp '2024-01-01 00:00:01'`,
      '      id: id\n      tags: { column: tags, transform: [json] }');
    expect(landed).toHaveLength(39);
    expect(entry).toMatchObject({ sourceKey: ['2'], fields: ['tags'] });
  });
});
