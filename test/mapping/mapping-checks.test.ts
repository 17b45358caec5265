import { describe, expect, it } from 'vitest';
import { checkStreamMapping } from '../../src/mapping/mapping-checks.ts';
import { builtin, stream } from './fixtures.ts';

const columns = ['id', 'email', 'updated_at', 'created_at', 'tenant_id', 'deleted_at', 'Phone'].map((name) => ({ name, dataType: 'text', precision: null }));

describe('checkStreamMapping', () => {
  it('finds nothing wrong with a good stream, with or without the view', () => {
    const check = { stream: stream(), definition: builtin('contacts'), path: 'streams[0]', timezone: 'UTC' };
    expect(checkStreamMapping(check)).toEqual([]);
    expect(checkStreamMapping({ ...check, columns })).toEqual([]);
  });

  it('config only: unknown targets and an unmapped external id, each with its path', () => {
    const problems = checkStreamMapping({
      stream: stream({ fields: { email: 'email', emial: 'email', 'address.city': 'city' } }),
      definition: builtin('contacts'),
      path: 'streams[1]',
      timezone: 'UTC',
    });
    expect(problems.map((p) => p.path)).toEqual(['streams[1].fields.emial', 'streams[1].fields.address.city', 'streams[1].fields']);
    expect(problems[0]!.message).toContain('"emial" is not a field of schema "contacts"');
    expect(problems[2]!.message).toContain('must map "id"');
  });

  it('with the view: every column the stream names must exist', () => {
    const problems = checkStreamMapping({
      stream: stream({
        fields: { id: 'id', phone: 'phone', created_at: { column: 'signup', transform: ['iso8601'] }, city: { const: 'Oslo' } },
        primary_key: ['id', 'shard'],
        cursor: 'modified',
        cursor_fallback: 'created',
        filter: { tenant_id: 7, region: 'eu' },
        deleted: { column: 'removed_at' },
      }),
      definition: builtin('contacts'),
      path: 'streams[2]',
      timezone: 'America/New_York',
      columns,
    });
    expect(problems.map((p) => p.path)).toEqual([
      'streams[2].cursor',
      'streams[2].fields.phone',
      'streams[2].fields.created_at',
      'streams[2].primary_key[1]',
      'streams[2].cursor_fallback',
      'streams[2].filter.region',
      'streams[2].deleted.column',
    ]);
    expect(problems[1]!.message).toBe('column "phone" is not in view public.customers (did you mean "Phone"? names are case-sensitive)');
  });

  it('checks nested targets through properties', () => {
    const definition = {
      ...builtin('locations'),
      jsonSchema: { type: 'object' as const, properties: { id: { type: 'string' as const }, address: { type: 'object' as const, properties: { city: { type: 'string' as const } } } } },
    };
    const problems = checkStreamMapping({ stream: stream({ fields: { id: 'id', 'address.city': 'city', 'address.zip': 'zip' } }), definition, path: 's', timezone: 'UTC' });
    expect(problems).toEqual([{ path: 's.fields.address.zip', message: '"address.zip" is not a field of schema "locations" (known here: city)' }]);
  });
});
