import { describe, expect, it } from 'vitest';
import { ConfigError, PermanentError, RecordError } from '../../src/errors.ts';
import { compileRecordMapper } from '../../src/mapping/record-mapper.ts';
import type { RecordMapperOptions } from '../../src/mapping/record-mapper.ts';
import type { SchemaDefinition } from '../../src/mapping/schema-definitions.ts';
import { builtin, stream } from './fixtures.ts';

const appointments: SchemaDefinition = {
  name: 'salon-appointments',
  category: 'custom_schema',
  externalIdField: 'appointment_id',
  jsonSchema: {
    type: 'object',
    properties: {
      appointment_id: { type: 'string' },
      source: { type: 'string' },
      price: { type: ['number', 'null'] },
      address: { type: 'object', properties: { city: { type: 'string' }, postal_code: { type: 'string' } } },
    },
  },
};

function mapper(fields: RecordMapperOptions['stream']['fields'], definition = builtin('contacts'), extra: Partial<RecordMapperOptions> = {}) {
  return compileRecordMapper({ stream: stream({ fields }), definition, timezone: 'America/New_York', defaultPhoneRegion: 'US', ...extra });
}

describe('compileRecordMapper', () => {
  it('maps columns with transforms and coerces plain columns by the target type', () => {
    const m = mapper({
      id: 'customer_id',
      email: { column: 'email', transform: ['trim', 'lowercase'] },
      phone: { column: 'phone', transform: ['phone_e164'] },
      created_at: 'created_at',
      total_lifetime_value: 'ltv',
      tags: 'tags',
      first_name: 'first_name',
    });
    const { externalId, record } = m.mapRow({
      customer_id: 42,
      email: '  Ana@Example.COM ',
      phone: '(415) 555-2671',
      created_at: '2024-07-01 12:00:00.123456',
      ltv: '12345678.90',
      tags: '["vip","😀"]',
      first_name: 'Zoë 👩‍🎤',
    });
    expect(externalId).toBe('42');
    expect(record).toEqual({
      id: '42',
      email: 'ana@example.com',
      phone: '+14155552671',
      created_at: '2024-07-01T16:00:00.123456Z',
      total_lifetime_value: 12345678.9,
      tags: ['vip', '😀'],
      first_name: 'Zoë 👩‍🎤',
    });
  });

  it('builds nested targets and sends constants', () => {
    const m = mapper({ appointment_id: 'id', 'address.city': 'city', 'address.postal_code': 'zip', source: { const: 'puller' } }, appointments);
    expect(m.mapRow({ id: 'a-1', city: 'Zürich', zip: '8001' }).record).toEqual({
      appointment_id: 'a-1',
      address: { city: 'Zürich', postal_code: '8001' },
      source: 'puller',
    });
  });

  it('sends a NULL column as null, through coercion and transforms alike', () => {
    const m = mapper({ id: 'id', email: { column: 'email', transform: ['trim'] }, total_lifetime_value: 'ltv', created_at: 'created_at' });
    expect(m.mapRow({ id: 'c1', email: null, ltv: null, created_at: null }).record).toEqual({ id: 'c1', email: null, total_lifetime_value: null, created_at: null });
  });

  it('never turns an absent column into null: RP_COLUMN_MISSING names it', () => {
    const m = mapper({ id: 'id', email: 'email' });
    let caught: unknown;
    try {
      m.mapRow({ id: 'c1' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(PermanentError);
    expect(caught).not.toBeInstanceOf(RecordError);
    expect((caught as PermanentError).code).toBe('RP_COLUMN_MISSING');
    expect((caught as PermanentError).message).toContain('"email"');
  });

  it('passes a 1 MB unicode text unchanged', () => {
    const big = 'Grüße 🎉 '.repeat(120_000);
    expect(mapper({ id: 'id', city: 'notes' }).mapRow({ id: 'c1', notes: big }).record.city).toBe(big);
  });

  it('maps transaction status through a value map', () => {
    const m = mapper({ id: 'id', status: { column: 'state', transform: [{ map: { PAID: 'paid', VOID: 'cancelled', OPEN: 'unpaid' } }] } }, builtin('transactions'));
    expect(m.mapRow({ id: 't1', state: 'PAID' }).record.status).toBe('paid');
    expect(m.mapRow({ id: 't2', state: 'VOID' }).record.status).toBe('cancelled');
    expect(() => m.mapRow({ id: 't3', state: 'LOST' })).toThrow(RecordError);
  });

  it('rejects inexact numbers and out-of-range bigints as record errors naming the field', () => {
    const m = mapper({ id: 'id', amount: 'amount' }, builtin('transactions'));
    expect(m.mapRow({ id: 't1', amount: '0.1' }).record.amount).toBe(0.1);
    let caught: unknown;
    try {
      m.mapRow({ id: 't1', amount: '123456789012345678.12' });
    } catch (error) {
      caught = error;
    }
    expect((caught as RecordError).fields).toEqual(['amount']);
  });

  it('requires a usable external id', () => {
    const m = mapper({ id: 'id' });
    expect(m.mapRow({ id: '9007199254740993' }).externalId).toBe('9007199254740993');
    for (const id of [null, '']) expect(() => m.mapRow({ id })).toThrow(RecordError);
  });

  it('reports the columns it reads, once each, including the delete marker', () => {
    const m = compileRecordMapper({
      stream: stream({ fields: { id: 'id', email: 'email', 'first_name': { column: 'email', transform: ['trim'] }, city: { const: 'x' } }, deleted: { column: 'deleted_at' } }),
      definition: builtin('contacts'),
      timezone: 'UTC',
    });
    expect(m.columnsUsed).toEqual(['id', 'email', 'deleted_at']);
  });

  it('reads soft deletes from a timestamp or a boolean flag', () => {
    const byTime = compileRecordMapper({ stream: stream({ deleted: { column: 'deleted_at' } }), definition: builtin('contacts'), timezone: 'UTC' });
    expect(byTime.isDeleted({ deleted_at: null })).toBe(false);
    expect(byTime.isDeleted({ deleted_at: '2024-01-02 03:04:05' })).toBe(true);
    const byFlag = compileRecordMapper({ stream: stream({ deleted: { column: 'is_deleted', boolean: true } }), definition: builtin('contacts'), timezone: 'UTC' });
    expect([true, 1, 0, false, null].map((v) => byFlag.isDeleted({ is_deleted: v }))).toEqual([true, true, false, false, false]);
    expect(() => byFlag.isDeleted({})).toThrow(PermanentError);
    expect(mapper({ id: 'id' }).isDeleted({})).toBe(false);
  });

  it('refuses a mapping without the external id, with conflicting targets or a bad region, listing all', () => {
    let caught: unknown;
    try {
      compileRecordMapper({
        stream: stream({ fields: { source: 'x', address: 'addr', 'address.city': 'city', price: { column: 'p', transform: [{ phone_e164: { region: 'XX' } }] } } }),
        definition: appointments,
        timezone: 'UTC',
        path: 'streams[0]',
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).problems.map((p) => p.path)).toEqual(['streams[0].fields', 'streams[0].fields.address.city', 'streams[0].fields.price']);
  });
});
