/**
 * Hostile connector input: identifiers that try to break out of SQL are refused by
 * validation with file:line; the source layer quotes identifiers and binds values anyway,
 * so no second statement runs; YAML bombs and oversized files are refused before parsing
 * goes far.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll } from 'vitest';
import { loadConnectorFile, loadConnectors, parseConnector } from '../../src/config/load-connectors.ts';
import { ConfigError, formatProblem } from '../../src/errors.ts';
import { openSource } from '../../src/sources/source-pools.ts';
import type { ReadSpec, Source } from '../../src/sources/source.ts';
import { TEST_DIALECTS } from '../helpers/partner.ts';
import { describe, expect, test, type Lab } from '../fixture.ts';
import { settingsFor } from '../sources/source-fixtures.ts';

/** A valid connector file with one value replaced; values are JSON, which YAML reads as-is. */
function connectorYaml(over: { view?: string; cursor?: string; key?: string; field?: string; filterKey?: string } = {}): string {
  const q = JSON.stringify;
  return `tenant: t1
source:
  dialect: postgres
  host: db.example.com
  database: shop
  user: reader
  password: \${env:PW}
streams:
  - name: customers
    view: ${q(over.view ?? 'v_customers')}
    schema: contacts
    primary_key: [${q(over.key ?? 'id')}]
    cursor: ${q(over.cursor ?? 'updated_at')}
    filter: { ${q(over.filterKey ?? 'business_id')}: 7 }
    fields:
      id: id
      email: ${q(over.field ?? 'email')}
`;
}

const HOSTILE = [
  'v"; drop table customers; --',
  "v'; drop table customers; --",
  'v`; drop table customers; --',
  'v; select 1',
  'v/* comment */',
  'v -- comment',
  'vü_kunden',
  'v\u200bzero_width',
  'public.v; drop',
  'v x',
];

describe('hostile identifiers in connector files', () => {
  test('accepts the plain file the hostile ones are made from', () => {
    expect(parseConnector('ok.yaml', connectorYaml()).problems).toEqual([]);
  });

  const cases: [key: 'view' | 'cursor' | 'key' | 'field' | 'filterKey', path: string, line: number][] = [
    ['view', 'streams[0].view', 10],
    ['key', 'streams[0].primary_key[0]', 12],
    ['cursor', 'streams[0].cursor', 13],
    ['filterKey', 'streams[0].filter.', 14],
    ['field', 'streams[0].fields.email', 17],
  ];
  for (const [key, keyPath, line] of cases) {
    test(`refuses every hostile ${key} with file, line and path`, () => {
      for (const name of HOSTILE) {
        const { connector, problems } = parseConnector('hostile.yaml', connectorYaml({ [key]: name }));
        expect(connector, name).toBeUndefined();
        expect(problems.map(formatProblem), name).toEqual([expect.stringMatching(new RegExp(`^hostile\\.yaml:${line} ${keyPath.replace(/[[\].]/g, '\\$&')}`))]);
      }
    });
  }
});

describe('YAML bombs and oversized files', () => {
  test('refuses a billion-laughs file (exponential aliases)', () => {
    const levels = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
    const bomb = levels.map((name, i) => (i === 0
      ? `${name}: &${name} ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]`
      : `${name}: &${name} [${Array(9).fill(`*${levels[i - 1]}`).join(',')}]`)).join('\n');
    const { connector, problems } = parseConnector('bomb.yaml', `${bomb}\n${connectorYaml()}`);
    expect(connector).toBeUndefined();
    expect(problems.map(formatProblem)).toEqual([expect.stringMatching(/^bomb\.yaml .*alias/i)]);
  });

  test('refuses a file above the size limit before parsing it, and apply lists it', async ({ lab }) => {
    const file = path.join(await lab.tmpDir(), 'huge.yaml');
    const text = `${connectorYaml()}${'# padding\n'.repeat(30_000)}`;
    writeFileSync(file, text);
    const { connector, problems } = await loadConnectorFile(file);
    expect(connector).toBeUndefined();
    expect(problems.map(formatProblem)).toEqual([`${file} file is ${Buffer.byteLength(text)} bytes; the limit is 262144`]);
    await expect(loadConnectors([file])).rejects.toBeInstanceOf(ConfigError);
  });
});

for (const dialect of TEST_DIALECTS) {
  describe(`identifiers quoted and values bound on ${dialect}`, () => {
    // Every character that could end an identifier or start a comment, on either dialect.
    const table = 'x"y`z;--w';
    const column = 'c"o`l; drop';
    const quote = (name: string) => (dialect === 'postgres' ? `"${name.replaceAll('"', '""')}"` : `\`${name.replaceAll('`', '``')}\``);

    /** The file's partner with the hostile table and `t_victim`, and a Source on it: made by the first test that needs it. */
    let ready: Promise<{ source: Source; url: string }> | undefined;
    const sourceOf = (lab: Lab) => (ready ??= (async () => {
      const partner = await lab.partner(dialect);
      await partner.exec(
        `create table ${quote(table)} (id integer primary key, ${quote(column)} varchar(50), updated_at integer)`,
        `insert into ${quote(table)} values (1, 'one', 10), (2, 'two', 20)`,
        'create table t_victim (id integer primary key)',
        'insert into t_victim values (1)');
      return { source: openSource(settingsFor(dialect, partner.url)), url: partner.url };
    })());
    afterAll(async () => {
      await (await ready?.catch(() => undefined))?.source.close();
    });

    const spec = (filter: ReadSpec['filter'] = {}): ReadSpec => ({
      view: table, columns: ['id', column], primaryKey: ['id'], cursor: 'updated_at', cursorKind: 'integer', filter,
    });

    test('reads a table whose names contain quotes, backticks, semicolons and comment marks', async ({ lab }) => {
      const { source } = await sourceOf(lab);
      const compiled = source.compilePage(spec(), { after: { cursor: '10', key: ['1'] }, limit: 10 });
      expect(compiled.sql).toContain(quote(table));
      expect(compiled.sql).toContain(quote(column));
      const page = await source.withReadSession((s) => s.readPage(spec(), { limit: 10 }));
      expect(page.rows.map((r) => [String(r.id), r[column]])).toEqual([['1', 'one'], ['2', 'two']]);
    });

    test('binds a filter value that carries a second statement: nothing else runs', async ({ lab }) => {
      const { source, url } = await sourceOf(lab);
      const payload = "1; drop table t_victim; -- ' \" `";
      const compiled = source.compilePage(spec({ [column]: payload }), { limit: 10 });
      expect(compiled.sql).not.toContain('drop table');
      expect(compiled.bindings).toContain(payload);
      const page = await source.withReadSession((s) => s.readPage(spec({ [column]: payload }), { limit: 10 }));
      expect(page.rows).toEqual([]);
      const admin = openSource(settingsFor(dialect, url));
      try {
        const rows = await admin.withReadSession((s) => s.raw('select count(*) as n from t_victim'));
        expect(Number(rows[0]!.n)).toBe(1);
      } finally {
        await admin.close();
      }
    });
  });
}
