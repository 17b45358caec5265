import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { contentHash, recordJson } from '../../src/mapping/content-hash.ts';

const hashOf = (record: object) => contentHash(recordJson(record));

describe('contentHash', () => {
  it('is the sha256 of the JSON text the sinks send', () => {
    const record = { a: 1, b: { c: '😀', d: [1, null] } };
    expect(recordJson(record)).toBe('{"a":1,"b":{"c":"😀","d":[1,null]}}');
    expect(hashOf(record)).toBe(createHash('sha256').update('{"a":1,"b":{"c":"😀","d":[1,null]}}').digest('hex'));
  });

  it('changes with any value, array order, or null versus absent; undefined is absent', () => {
    const base = hashOf({ id: 'c1', tags: ['a', 'b'] });
    expect(hashOf({ id: 'c1', tags: ['a', 'b'] })).toBe(base);
    expect(hashOf({ id: 'c2', tags: ['a', 'b'] })).not.toBe(base);
    expect(hashOf({ id: 'c1', tags: ['b', 'a'] })).not.toBe(base);
    expect(hashOf({ id: 'c1', tags: ['a', 'b'], email: null })).not.toBe(base);
    expect(hashOf({ id: 'c1', tags: ['a', 'b'], email: undefined })).toBe(base);
  });
});
