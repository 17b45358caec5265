import { describe, expect, it } from 'vitest';
import { contentHash } from '../../src/mapping/content-hash.ts';

describe('contentHash', () => {
  it('is stable across key order at every depth', () => {
    const a = { id: 'c1', address: { city: 'Oslo', zip: '0150' }, tags: ['b', 'a'], ltv: 12.5, vip: true, note: null };
    const b = { note: null, vip: true, ltv: 12.5, tags: ['b', 'a'], address: { zip: '0150', city: 'Oslo' }, id: 'c1' };
    expect(contentHash(a)).toBe(contentHash(b));
    expect(contentHash(a)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('changes with any value, array order, or null versus absent', () => {
    const base = contentHash({ id: 'c1', tags: ['a', 'b'] });
    expect(contentHash({ id: 'c2', tags: ['a', 'b'] })).not.toBe(base);
    expect(contentHash({ id: 'c1', tags: ['b', 'a'] })).not.toBe(base);
    expect(contentHash({ id: 'c1', tags: ['a', 'b'], email: null })).not.toBe(base);
    expect(contentHash({ id: 'c1', tags: ['a', 'b'], email: undefined })).toBe(base);
  });

  it('hashes the canonical JSON text', async () => {
    const { createHash } = await import('node:crypto');
    const expected = createHash('sha256').update('{"a":1,"b":{"c":"😀","d":[1,null]}}').digest('hex');
    expect(contentHash({ b: { d: [1, null], c: '😀' }, a: 1 })).toBe(expected);
  });
});
