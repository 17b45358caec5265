import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadSchemaDefinitionFiles } from '../../src/mapping/schema-definitions.ts';
import { validate } from '../../src/mapping/validator.ts';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true })));
});

async function schemaDir(files: Record<string, unknown>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'reach-schemas-'));
  dirs.push(dir);
  for (const [name, body] of Object.entries(files)) await writeFile(join(dir, name), typeof body === 'string' ? body : JSON.stringify(body));
  return dir;
}

const valid = {
  name: 'pets',
  category: 'custom_schema',
  external_id_field: 'pet_id',
  schema: { type: 'object', properties: { pet_id: { type: 'string', 'x-pii-type': 'EXTERNAL_ID' }, owner: { $ref: 'reach:schemas/Contacts' } } },
};

describe('loadSchemaDefinitionFiles', () => {
  it('loads the example file in connectors/schemas on top of the built-ins', async () => {
    const { catalog, problems } = await loadSchemaDefinitionFiles(join(import.meta.dirname, '../../connectors/schemas'));
    expect(problems).toEqual([]);
    expect(catalog.definitions.map((d) => d.name)).toEqual(['contacts', 'transactions', 'locations', 'salon-appointments']);
    const appointments = catalog.get('SALON-APPOINTMENTS')!;
    expect(appointments.externalIdField).toBe('appointment_id');
    expect(validate(appointments, { appointment_id: 'a1', customer_id: 'c1', starts_at: '2024-01-02T03:04:05.123456Z', price: 45 })).toEqual({ ok: true });
  });

  it('lets a file override a built-in of the same name', async () => {
    const dir = await schemaDir({ 'contacts.json': { ...valid, name: 'contacts', category: 'contacts_schema' } });
    const { catalog, problems } = await loadSchemaDefinitionFiles(dir);
    expect(problems).toEqual([]);
    expect(catalog.get('contacts')!.externalIdField).toBe('pet_id');
  });

  it('treats a missing directory as no files', async () => {
    const { catalog, problems } = await loadSchemaDefinitionFiles(join(tmpdir(), 'no-such-reach-schemas-dir'));
    expect(problems).toEqual([]);
    expect(catalog.definitions).toHaveLength(3);
  });

  it('collects every problem of every file, each with file and path', async () => {
    const dir = await schemaDir({
      'a-ok.json': valid,
      'b-dup.json': { ...valid, name: 'PETS' },
      'c-bad.json': {
        name: 'bad name!',
        category: 'people_schema',
        external_id_field: 'nope',
        colour: 'blue',
        schema: { type: 'object', properties: { a: { type: 'strin' }, b: { type: 'string', 'x-pii-type': 'SSN' }, c: { $ref: 'reach:schemas/ghosts' } } },
      },
      'd-typo.json': { ...valid, name: 'typo', schema: { type: 'object', properties: { pet_id: { type: 'string', maxLenght: 3 } } } },
      'e-not-object.json': { ...valid, name: 'flat', schema: { type: 'string' } },
      'f-syntax.json': '{ "name": ',
      'g-missing.json': { name: 'empty' },
      'h-ref.json': { ...valid, name: 'h_ref', schema: { ...valid.schema, properties: { ...valid.schema.properties, owner: { $ref: 'reach:schemas/ghosts' } } } },
    });
    const { catalog, problems } = await loadSchemaDefinitionFiles(dir);
    const where = problems.map((p) => `${p.file!.slice(dir.length + 1)} ${p.path}`);
    expect(where).toEqual(expect.arrayContaining([
      'b-dup.json name',
      'c-bad.json colour',
      'c-bad.json name',
      'c-bad.json category',
      'c-bad.json schema.properties.a.type',
      'c-bad.json external_id_field',
      'c-bad.json schema',
      'd-typo.json schema',
      'e-not-object.json schema',
      'e-not-object.json external_id_field',
      'f-syntax.json ',
      'g-missing.json category',
      'g-missing.json external_id_field',
      'g-missing.json schema',
      'h-ref.json schema',
    ]));
    expect(problems.find((p) => p.file!.endsWith('b-dup.json'))!.message).toMatch(/already defined in .*a-ok\.json/);
    expect(where).toContain('c-bad.json schema.properties.b.x-pii-type');
    expect(problems.some((p) => /unknown schema "ghosts"/.test(p.message))).toBe(true);
    expect(problems.find((p) => p.file!.endsWith('d-typo.json'))!.message).toMatch(/maxLenght/);
    expect(catalog.definitions.map((d) => d.name)).toEqual(['contacts', 'transactions', 'locations', 'pets']);
  });
});
