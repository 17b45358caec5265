/** `npm run schema`: writes connectors/connector.schema.json from the zod schema. */
import { writeFile } from 'node:fs/promises';
import { connectorJsonSchema } from './connector-json-schema.ts';

const target = new URL('../../connectors/connector.schema.json', import.meta.url);
await writeFile(target, `${JSON.stringify(connectorJsonSchema(), null, 2)}\n`);
process.stdout.write(`wrote ${target.pathname}\n`);
