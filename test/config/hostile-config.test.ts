/**
 * Connector files that try to slip something past validation: an id no route can address,
 * keys that would reach an object's prototype, and a YAML error reported far from its cause.
 */
import { describe, expect, it } from 'vitest';
import { parseConnector } from '../../src/config/load-connectors.ts';

const VALID = `tenant: t
source:
  dialect: postgres
  host: db.example.com
  database: d
  user: u
  password: \${env:X}
streams:
  - name: s
    view: v
    schema: contacts
    primary_key: [id]
    cursor: updated_at
    fields: { id: id }
`;

describe('hostile connector files', () => {
  it('refuses an id taken from a file name that breaks the id rule, and says how to fix it', () => {
    const { connector, problems } = parseConnector('Weird Name;drop.yaml', VALID);
    expect(connector).toBeUndefined();
    expect(problems).toEqual([expect.objectContaining({ file: 'Weird Name;drop.yaml', path: 'id', message: expect.stringContaining('rename the file or set id:') })]);
    expect(parseConnector('weird.yaml', `id: fine-id\n${VALID}`).connector?.id).toBe('fine-id');
  });

  it('refuses __proto__, constructor and prototype keys anywhere, with their line', () => {
    const text = VALID.replace('    fields: { id: id }', '    filter: { __proto__: 1, business_id: 42 }\n    fields: { id: id, constructor: id }');
    const { connector, problems } = parseConnector('proto.yaml', text);
    expect(connector).toBeUndefined();
    expect(problems).toEqual(expect.arrayContaining([
      expect.objectContaining({ line: 14, path: 'streams[0].filter.__proto__', message: expect.stringContaining('reserved') }),
      expect.objectContaining({ line: 15, path: 'streams[0].fields.constructor' }),
    ]));
  });

  it('reports an unclosed quote at the line where it opens, not at the end of the file', () => {
    const text = VALID.replace('  user: u', '  user: "u');
    const { problems } = parseConnector('quote.yaml', text);
    expect(problems[0]).toMatchObject({ line: 6, message: expect.stringContaining('Missing closing "quote') });
  });

  it('reports an unclosed flow sequence or map at the line where it opens (found in review)', () => {
    const sequence = parseConnector('flow.yaml', 'tenant: t1\nstreams: [\n  a,\n  b\nsource:\n  host: x\n  user: u\n');
    expect(sequence.problems[0]).toMatchObject({ line: 2 });
    const map = parseConnector('flow.yaml', 'tenant: t1\nsource: {\n  host: x,\n  user: u\nstreams: []\n');
    expect(map.problems[0]).toMatchObject({ line: 2 });
  });
});
