import { describe, expect, it } from 'vitest';
import { validate } from '../../src/mapping/validator.ts';
import { builtin } from './fixtures.ts';

describe('validate', () => {
  const transactions = builtin('transactions');

  it('accepts a valid transaction, references given as ids', () => {
    const record = {
      id: 't1', customer_id: 'c1', amount: 12.5, currency: 'USD', status: 'paid',
      created_at: '2024-01-02T03:04:05.123456Z', items: [{ name: 'Cut', price: 12.5 }],
    };
    expect(validate(transactions, record)).toEqual({ ok: true });
    expect(validate(transactions, { ...record, customer_id: 17 })).toEqual({ ok: true });
  });

  it('names every failing field in a readable message', () => {
    const result = validate(transactions, { id: 't1', amount: '12.5', status: 'refunded', created_at: 'yesterday', items: [{ name: 'Cut', price: 'free' }] });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.fields.sort()).toEqual(['amount', 'created_at', 'items.0.price', 'status']);
    expect(result.message).toContain('amount: must be number');
    expect(result.message).toContain('status: must be equal to one of the allowed values ("paid", "unpaid", "cancelled")');
    expect(result.message).toContain('created_at: must match format "date-time"');
  });

  it('treats null as a deletion: fine for optional fields, refused for required ones', () => {
    expect(validate(transactions, { id: 't1', amount: null, paid_at: null })).toEqual({ ok: true });
    const result = validate(transactions, { id: null, amount: 1 });
    expect(result).toEqual({ ok: false, fields: ['id'], message: 'id: is required and cannot be null (null deletes the field in Reach)' });
  });

  it('keeps nulls inside arrays as values', () => {
    expect(validate(builtin('contacts'), { id: 'c1', tags: ['vip', null] }).ok).toBe(false);
  });

  it('compiles each definition once', () => {
    const contacts = builtin('contacts');
    const start = performance.now();
    for (let i = 0; i < 10_000; i++) validate(contacts, { id: `c${i}`, email: 'a@b.c' });
    expect(performance.now() - start).toBeLessThan(1000);
  });
});
