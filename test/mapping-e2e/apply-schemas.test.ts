/**
 * `apply` with schema definition files, run as an operator would (a child process on a
 * fresh store of the lab): a bad schema file or a stream mapping a field its schema lacks
 * exits 2 naming file:line and key path, and registers nothing.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Store } from '../../src/store/open-store.ts';
import { describe, expect, test, type Lab } from '../fixture.ts';

const SCHEMA = {
  name: 'salon-visits', category: 'custom_schema', external_id_field: 'visit_id',
  schema: {
    type: 'object', required: ['visit_id'],
    properties: { visit_id: { type: 'string', 'x-pii-type': 'EXTERNAL_ID' }, stylist: { type: 'string', 'x-pii-type': 'NAME' } },
  },
};

const connector = (fields: string) => `tenant: glow-1
source:
  dialect: postgres
  host: 127.0.0.1
  database: partner
  user: reach_ro
  password: \${env:RP_MAP_PW}
  ssl: { mode: disable }
streams:
  - name: visits
    view: visits_v
    schema: salon-visits
    primary_key: [id]
    cursor: updated_at
    fields:
${fields}
`;

async function layout(lab: Lab, files: Record<string, string>): Promise<string> {
  const dir = await lab.tmpDir();
  await mkdir(path.join(dir, 'schemas'));
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return dir;
}

async function registered(store: Store): Promise<{ connectors: number; schemas: string[] }> {
  const connectors = await store.db.selectFrom('connectors').select('id').execute();
  const schemas = await store.db.selectFrom('schema_definitions').select('name').orderBy('name').execute();
  return { connectors: connectors.length, schemas: schemas.map((r) => r.name) };
}

describe('apply with schema definition files', () => {
  test('registers the schema files with the connectors, in one transaction', async ({ lab }) => {
    const store = await lab.store();
    const dir = await layout(lab, {
      'glow.yaml': connector('      visit_id: id\n      stylist: stylist_name'),
      'schemas/salon-visits.json': JSON.stringify(SCHEMA, null, 2),
    });
    const r = await lab.cli(['apply', dir], { env: { DATABASE_URL: store.url, RP_MAP_PW: 'x' } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await registered(store)).toEqual({ connectors: 1, schemas: ['salon-visits'] });
  });

  test('refuses a bad schema file and a mapping to a field the schema lacks, naming file:line and path; registers nothing', async ({ lab }) => {
    const store = await lab.store();
    const bad = { ...SCHEMA, schema: { ...SCHEMA.schema, properties: { ...SCHEMA.schema.properties, stylist: { type: 'string', 'x-pii-type': 'STYLIST' } } } };
    const dir = await layout(lab, {
      'glow.yaml': connector('      visit_id: id\n      stylist: stylist_name\n      room: room_no'),
      'schemas/salon-visits.json': JSON.stringify(bad, null, 2),
    });
    const r = await lab.cli(['apply', dir], { env: { DATABASE_URL: store.url, RP_MAP_PW: 'x' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${path.join(dir, 'schemas/salon-visits.json')}:17 schema.properties.stylist.x-pii-type: must be one of`);
    // The stream's schema did not load, so the stream is reported at its `schema` key.
    expect(r.stderr).toContain(`${path.join(dir, 'glow.yaml')}:12 streams[0].schema: Reach schema "salon-visits" is not defined`);
    expect(r.stderr).toContain('nothing was changed');
    expect(await registered(store)).toEqual({ connectors: 0, schemas: [] });

    // With the schema fixed, only the mapping problem remains, and still nothing is registered.
    await writeFile(path.join(dir, 'schemas/salon-visits.json'), JSON.stringify(SCHEMA, null, 2));
    const again = await lab.cli(['apply', dir], { env: { DATABASE_URL: store.url, RP_MAP_PW: 'x' } });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`${path.join(dir, 'glow.yaml')}:18 streams[0].fields.room: "room" is not a field of schema "salon-visits"`);
    expect(again.stderr).toContain('1 problem(s); nothing was changed');
    expect(await registered(store)).toEqual({ connectors: 0, schemas: [] });
  });
});
