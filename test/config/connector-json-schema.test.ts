import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { connectorJsonSchema } from '../../src/config/connector-json-schema.ts';

describe('published connector JSON Schema', () => {
  it('is the one generated from the zod schema (run `npm run schema` after changing it)', async () => {
    const published = JSON.parse(await readFile(new URL('../../connectors/connector.schema.json', import.meta.url), 'utf8'));
    expect(published).toEqual(connectorJsonSchema());
  });
});
