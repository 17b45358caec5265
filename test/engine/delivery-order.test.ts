/**
 * The delivery order as a pure decision, and as a model: whatever order reads of one record
 * arrive in, and whichever of them Reach applies last, deciding each read against what is
 * delivered (and waiting for unconfirmed sends) ends at the newest read.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decide, type Verdict } from '../../src/engine/delivery-order.ts';
import { UNKNOWN_CONTENT } from '../../src/store/delivery-claims.ts';
import type { DeliveredEntry } from '../../src/store/delivery-state.ts';

const entry = (version: string, content: string, deleted = false): DeliveredEntry => ({
  externalId: 'x', version, contentHash: deleted ? 'deleted' : content, deleted,
});

describe('decide', () => {
  it('sends what Reach lacks and remembers a delete of what it never had', () => {
    expect(decide(entry('2', 'a'), undefined)).toBe('send');
    expect(decide(entry('2', '', true), undefined)).toBe('tombstone');
  });

  it('never sends a read older than what was delivered, a delete included', () => {
    expect(decide(entry('1', 'old'), entry('2', 'new'))).toBe('stale');
    expect(decide(entry('1', 'alive'), entry('2', '', true))).toBe('stale');
  });

  it('skips the same content, remembering a newer version of it', () => {
    expect(decide(entry('2', 'a'), entry('2', 'a'))).toBe('unchanged');
    expect(decide(entry('3', 'a'), entry('2', 'a'))).toBe('bump');
    expect(decide(entry('3', '', true), entry('2', '', true))).toBe('bump');
  });

  it('sends newer content, and other content at the same version (the later read goes last)', () => {
    expect(decide(entry('3', 'b'), entry('2', 'a'))).toBe('send');
    expect(decide(entry('2', 'b'), entry('2', 'a'))).toBe('send');
    expect(decide(entry('3', '', true), entry('2', 'a'))).toBe('send');
  });

  it('sends a record whose content in Reach is unknown (a send that died unanswered), a delete included', () => {
    const unknown = entry('2', UNKNOWN_CONTENT);
    expect(decide(entry('2', 'a'), unknown)).toBe('send');
    expect(decide(entry('3', '', true), unknown)).toBe('send');
    expect(decide(entry('1', 'a'), unknown)).toBe('stale');
  });

  it('waits for an unconfirmed send of the record unless that send is newer', () => {
    expect(decide(entry('3', 'b'), entry('1', 'a'), entry('2', 'a'))).toBe('wait');
    expect(decide(entry('2', 'a'), undefined, entry('2', 'a'))).toBe('wait');
    expect(decide(entry('1', 'a'), undefined, entry('2', 'b'))).toBe('stale');
  });
});

describe('decide, as a model of concurrent runs against a Reach that applies batches in any order', () => {
  it('ends at the newest read, however reads interleave and batches land', () => {
    // A read: a version (its cursor) and content; reads of one record by different runs, in any arrival order.
    const read = fc.record({ version: fc.integer({ min: 1, max: 9 }), content: fc.constantFrom('a', 'b', 'c', 'del') });
    fc.assert(fc.property(fc.array(read, { minLength: 1, maxLength: 12 }), fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }), (reads, settleEarly) => {
      let delivered: DeliveredEntry | undefined;
      let reach: string | undefined; // what Reach holds: content, or undefined when absent
      let inFlight: { entry: DeliveredEntry; value: string | undefined } | undefined;
      const settle = () => {
        // Reach applies the unconfirmed send; only then is it recorded as delivered.
        reach = inFlight!.value;
        if (!delivered || delivered.version <= inFlight!.entry.version) delivered = inFlight!.entry;
        inFlight = undefined;
      };
      const queue = reads.map((r) => entry(String(r.version), r.content, r.content === 'del'));
      for (let i = 0; i < queue.length; i++) {
        const r = queue[i]!;
        let verdict: Verdict = decide(r, delivered, inFlight?.entry);
        if (verdict === 'wait') {
          settle();
          verdict = decide(r, delivered);
        }
        if (verdict === 'send') inFlight = { entry: r, value: r.deleted ? undefined : r.contentHash };
        if (verdict === 'bump' || verdict === 'tombstone') delivered = r;
        if (inFlight && settleEarly[i]) settle();
      }
      if (inFlight) settle();
      // The newest read by version; among equal versions, the last one read.
      const newest = queue.reduce((a, b) => (b.version >= a.version ? b : a));
      const expected = newest.deleted ? undefined : newest.contentHash;
      // A newer version of the same content leaves Reach with that content either way.
      return reach === expected || (reach === undefined && expected === undefined);
    }), { numRuns: 5_000 });
  });
});
