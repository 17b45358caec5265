import { describe, expect, it } from 'vitest';
import { mergeResource } from '../../src/dev/merge-resource.ts';

describe('mergeResource', () => {
  it('creates from nothing, dropping nulls', () => {
    expect(mergeResource(undefined, { id: '1', email: 'a@x.io', phone: null })).toEqual({ id: '1', email: 'a@x.io' });
  });

  it('keeps fields left out, replaces sent ones and deletes nulls', () => {
    const existing = { id: '1', email: 'a@x.io', city: 'Lyon', tags: ['a'] };
    expect(mergeResource(existing, { id: '1', city: null, tags: ['b'] })).toEqual({ id: '1', email: 'a@x.io', tags: ['b'] });
    expect(existing).toEqual({ id: '1', email: 'a@x.io', city: 'Lyon', tags: ['a'] });
  });

  it('replaces nested objects whole (shallow merge)', () => {
    expect(mergeResource({ address: { city: 'Lyon', zip: '69001' } }, { address: { city: 'Nice' } })).toEqual({
      address: { city: 'Nice' },
    });
  });
});
