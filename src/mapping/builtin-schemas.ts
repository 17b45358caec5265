/**
 * The default schema definitions, shaped like the records in Reach's partner guide.
 * Field names are snake_case as in those examples; a partner whose Reach schema differs
 * overrides one by putting a file of the same name in `connectors/schemas/`.
 *
 * - contacts (contacts_schema, id `id`): id, email, phone, first_name, last_name,
 *   created_at, city, state, total_lifetime_value, tags[].
 * - transactions (transactions_schema, id `id`): id, customer_id (reference to contacts),
 *   amount, currency, status (paid | unpaid | cancelled), created_at, paid_at, due_at,
 *   items[{name, price}].
 * - locations (locations_schema, id `id`): id, name, address_line1, address_line2, city,
 *   state, postal_code, country, phone, created_at.
 *
 * Only the external id is required: a NULL in the partner data is sent as null, which
 * deletes the field in Reach, and a required field cannot be deleted.
 * `email` carries no `format`: a malformed address in partner data should not block the
 * rest of the contact.
 */
import type { JsonSchema } from './json-schema.ts';
import type { SchemaDefinition } from './schema-definitions.ts';

const DRAFT_07 = 'http://json-schema.org/draft-07/schema#';
const text: JsonSchema = { type: 'string' };
const dateTime: JsonSchema = { type: 'string', format: 'date-time' };

const CONTACTS: SchemaDefinition = {
  name: 'contacts',
  category: 'contacts_schema',
  externalIdField: 'id',
  jsonSchema: {
    $schema: DRAFT_07,
    type: 'object',
    required: ['id'],
    properties: {
      id: { type: 'string', 'x-pii-type': 'EXTERNAL_ID' },
      email: { type: 'string', 'x-pii-type': 'EMAIL' },
      phone: { type: 'string', 'x-pii-type': 'PHONE' },
      first_name: { type: 'string', 'x-pii-type': 'FIRST_NAME' },
      last_name: { type: 'string', 'x-pii-type': 'LAST_NAME' },
      created_at: dateTime,
      city: text,
      state: text,
      total_lifetime_value: { type: 'number' },
      tags: { type: 'array', items: text },
    },
  },
};

const TRANSACTIONS: SchemaDefinition = {
  name: 'transactions',
  category: 'transactions_schema',
  externalIdField: 'id',
  jsonSchema: {
    $schema: DRAFT_07,
    type: 'object',
    required: ['id'],
    properties: {
      id: { type: 'string', 'x-pii-type': 'EXTERNAL_ID' },
      customer_id: { $ref: 'reach:schemas/contacts' },
      amount: { type: 'number' },
      currency: { type: 'string', pattern: '^[A-Z]{3}$' },
      status: { type: 'string', enum: ['paid', 'unpaid', 'cancelled'] },
      created_at: dateTime,
      paid_at: dateTime,
      due_at: dateTime,
      items: {
        type: 'array',
        items: { type: 'object', properties: { name: text, price: { type: 'number' } } },
      },
    },
  },
};

const LOCATIONS: SchemaDefinition = {
  name: 'locations',
  category: 'locations_schema',
  externalIdField: 'id',
  jsonSchema: {
    $schema: DRAFT_07,
    type: 'object',
    required: ['id'],
    properties: {
      id: { type: 'string', 'x-pii-type': 'EXTERNAL_ID' },
      name: text,
      address_line1: text,
      address_line2: text,
      city: text,
      state: text,
      postal_code: text,
      country: text,
      phone: { type: 'string', 'x-pii-type': 'PHONE' },
      created_at: dateTime,
    },
  },
};

export const BUILTIN_SCHEMAS: readonly SchemaDefinition[] = [CONTACTS, TRANSACTIONS, LOCATIONS];
