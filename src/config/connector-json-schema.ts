/** The connector file's JSON Schema, generated from the zod schema for editors. */
import { z } from 'zod';
import { connectorSchema } from './connector-schema.ts';

/** JSON Schema (draft-07) of a connector file. */
export function connectorJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(connectorSchema, { target: 'draft-7', io: 'input' }),
    $id: 'https://reach.example/schemas/reach-puller-connector.json',
    title: 'reach-puller connector file',
  };
}
