import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConfigError, RecordError } from '../../src/errors.ts';
import { compilePipeline, compileTransform } from '../../src/mapping/transforms.ts';
import type { TransformSpec } from '../../src/config/connector-schema.ts';

const env = { timezone: 'America/New_York', defaultPhoneRegion: 'US' };
const run = (spec: TransformSpec, value: unknown, options = env) => compileTransform(spec, options)(value, 'f');

/** The RecordError a call throws, so tests can look at its fields and message. */
function recordError(fn: () => unknown): RecordError {
  try {
    fn();
  } catch (error) {
    if (error instanceof RecordError) return error;
    throw error;
  }
  throw new Error('expected a RecordError');
}

describe('text transforms', () => {
  it('trim, lowercase, uppercase change strings only', () => {
    expect(run('trim', '  Ana \n')).toBe('Ana');
    expect(run('lowercase', 'ÉMILE@Example.COM')).toBe('émile@example.com');
    expect(run('uppercase', 'usd')).toBe('USD');
    expect(run('trim', 42)).toBe(42);
    expect(run('lowercase', null)).toBeNull();
  });

  it('empty_to_null turns only the empty string into null; trim first catches blanks', () => {
    expect(run('empty_to_null', '')).toBeNull();
    expect(run('empty_to_null', ' ')).toBe(' ');
    expect(compilePipeline(['trim', 'empty_to_null'], env)('   ', 'f')).toBeNull();
  });

  it('string renders numbers, booleans and JSON values as text', () => {
    expect(run('string', 42)).toBe('42');
    expect(run('string', true)).toBe('true');
    expect(run('string', { a: [1] })).toBe('{"a":[1]}');
    expect(run('string', null)).toBeNull();
  });

  it('passes unicode, emoji and a 1 MB text through unchanged', () => {
    const big = 'ñ😀漢字'.repeat(200_000);
    expect(Buffer.byteLength(big)).toBeGreaterThan(1_000_000);
    for (const spec of ['trim', 'string', 'empty_to_null'] as const) expect(run(spec, big)).toBe(big);
    expect(run('uppercase', 'straße 😀')).toBe('STRASSE 😀');
  });
});

describe('phone_e164', () => {
  it.each([
    ['(415) 555-2671', '+14155552671'],
    ['415.555.2671', '+14155552671'],
    ['+44 20 7946 0958', '+442079460958'],
    ['+1 415 555 2671 ext. 5', '+14155552671'],
  ])('%s with region US -> %s', (input, expected) => {
    expect(run('phone_e164', input)).toBe(expected);
  });

  it('uses the transform region over the connector default', () => {
    expect(run({ phone_e164: { region: 'GB' } }, '020 7946 0958')).toBe('+442079460958');
  });

  it('rejects garbage naming the field, without echoing the number', () => {
    for (const garbage of ['call me', '12', '555-1234', '']) {
      const error = recordError(() => run('phone_e164', garbage));
      expect(error.fields).toEqual(['f']);
      expect(error.code).toBe('RP_RECORD_INVALID');
    }
    expect(recordError(() => run('phone_e164', '555-1234')).message).not.toContain('555');
  });

  it('needs a +country code without a default region', () => {
    expect(() => run('phone_e164', '415 555 2671', { timezone: 'UTC' } as typeof env)).toThrow(/needs a \+country code/);
    expect(run('phone_e164', '+1 415 555 2671', { timezone: 'UTC' } as typeof env)).toBe('+14155552671');
  });

  it('refuses an unknown region when compiled', () => {
    expect(() => compileTransform({ phone_e164: { region: 'XX' } }, env)).toThrow(ConfigError);
  });
});

describe('iso8601', () => {
  it('keeps canonical instants and their fractional digits', () => {
    expect(run('iso8601', '2024-01-02T03:04:05.123456Z')).toBe('2024-01-02T03:04:05.123456Z');
    expect(run('iso8601', '2024-01-02T03:04:05.1234567Z')).toBe('2024-01-02T03:04:05.1234567Z');
    expect(run('iso8601', '2024-01-02T03:04:05Z')).toBe('2024-01-02T03:04:05Z');
    expect(run('iso8601', '2024-01-02T03:04:05.5+02:00')).toBe('2024-01-02T01:04:05.5Z');
  });

  const dstCases = [
    ['2024-01-02 03:04:05.123456', '2024-01-02T08:04:05.123456Z', 'winter, EST'],
    ['2024-07-01 12:00:00.1234567', '2024-07-01T16:00:00.1234567Z', 'summer, EDT, 7 digits kept'],
    ['2024-03-10 01:59:59.999999', '2024-03-10T06:59:59.999999Z', 'just before spring forward'],
    ['2024-03-10 03:00:00.000001', '2024-03-10T07:00:00.000001Z', 'just after spring forward'],
    ['2024-03-10 02:30:00', '2024-03-10T07:30:00Z', 'inside the gap: moved forward'],
    ['2024-11-03 01:30:00.123456', '2024-11-03T05:30:00.123456Z', 'repeated hour: earlier instant'],
    ['2024-11-03 02:30:00', '2024-11-03T07:30:00Z', 'after fall back, EST'],
    ['2024-12-31 23:59:59.999999', '2025-01-01T04:59:59.999999Z', 'across the year'],
    ['2024-02-29', '2024-02-29T05:00:00Z', 'a date is its local midnight'],
  ];
  it.each(dstCases)('local %s in America/New_York -> %s (%s)', (input, expected) => {
    expect(run('iso8601', input)).toBe(expected);
  });

  it('gives the same answers from one compiled transform whose day cache is warm', () => {
    const transform = compileTransform('iso8601', env);
    for (let round = 0; round < 2; round++) {
      for (const [input, expected] of dstCases) expect(transform(input, 'f')).toBe(expected);
    }
  });

  it('agrees with Date for whole-second local times through a year', () => {
    const transform = compileTransform('iso8601', env);
    for (let day = 0; day < 366; day += 3) {
      const utc = new Date(Date.UTC(2024, 0, 1, 17) + day * 86_400_000);
      const local = new Intl.DateTimeFormat('sv-SE', { timeZone: 'America/New_York', dateStyle: 'short', timeStyle: 'medium' }).format(utc);
      expect(transform(local, 'f')).toBe(utc.toISOString().replace('.000Z', 'Z'));
    }
  });

  it('treats zoneless text as UTC when the source zone is UTC', () => {
    expect(run('iso8601', '2024-01-02 03:04:05.123456', { timezone: 'UTC' } as typeof env)).toBe('2024-01-02T03:04:05.123456Z');
  });

  it('rejects text that is not a valid timestamp', () => {
    for (const bad of ['yesterday', '2024-02-30 00:00:00', '2024-13-01', '2024-01-02 25:00:00', 1704164645000]) {
      expect(recordError(() => run('iso8601', bad)).fields).toEqual(['f']);
    }
  });

  it('refuses an unknown time zone when compiled', () => {
    expect(() => compileTransform('iso8601', { timezone: 'Mars/Olympus' })).toThrow(ConfigError);
  });

  it('property: canonical UTC text (the fast path) comes out as the general parser would make it, or is refused alike', () => {
    const digits = (n: number, max: number) => fc.integer({ min: 0, max }).map((v) => String(v).padStart(n, '0'));
    const text = fc.tuple(digits(4, 9999), digits(2, 13), digits(2, 32), digits(2, 24), digits(2, 60), digits(2, 60),
      fc.option(fc.stringMatching(/^[0-9]{1,9}$/), { nil: undefined }));
    const outcome = (value: string) => {
      try {
        return run('iso8601', value);
      } catch (error) {
        if (error instanceof RecordError) return 'refused';
        throw error;
      }
    };
    fc.assert(fc.property(text, ([y, mo, d, h, mi, s, fraction]) => {
      const rest = `${h}:${mi}:${s}${fraction === undefined ? '' : `.${fraction}`}Z`;
      // The space-separated spelling takes the general path; both must agree.
      expect(outcome(`${y}-${mo}-${d}T${rest}`)).toBe(outcome(`${y}-${mo}-${d} ${rest}`) === 'refused' ? 'refused' : `${y}-${mo}-${d}T${rest}`);
    }), { numRuns: 2000 });
    expect(run('iso8601', '2024-02-29T00:00:00Z')).toBe('2024-02-29T00:00:00Z');
    expect(recordError(() => run('iso8601', '2023-02-29T00:00:00Z')).fields).toEqual(['f']);
    expect(recordError(() => run('iso8601', '1900-02-29T00:00:00Z')).fields).toEqual(['f']);
  });
});

describe('decimal', () => {
  it.each([
    ['12345678.90', 12345678.9],
    ['0.1', 0.1],
    ['-0.00', -0],
    ['100', 100],
    ['1e21', 1e21],
    ['0.000001230', 0.00000123],
  ])('%s is exact', (input, expected) => {
    expect(run('decimal', input)).toBe(expected);
  });

  it('rejects decimals a double cannot carry, naming the field', () => {
    const error = recordError(() => run('decimal', '123456789012345678.12'));
    expect(error.fields).toEqual(['f']);
    expect(error.message).toMatch(/cannot be sent exactly/);
    expect(() => run('decimal', '0.1000000000000000055511151231257827')).toThrow(RecordError);
  });

  it('rejects text that is not a number', () => {
    for (const bad of ['NaN', 'Infinity', '1,5', '', '.', 'abc', true]) expect(() => run('decimal', bad)).toThrow(RecordError);
  });

  /** A decimal text's value as digits x 10^exp, in exact BigInt arithmetic. */
  const exactValue = (text: string) => {
    const [, sign, whole = '', fraction = '', exp = '0'] = /^(-?)(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i.exec(text)!;
    const digits = BigInt(whole + fraction || '0');
    return { n: sign ? -digits : digits, exp: Number(exp) - fraction.length };
  };
  const sameValue = (a: { n: bigint; exp: number }, b: { n: bigint; exp: number }) => {
    const exp = Math.min(a.exp, b.exp);
    return a.n * 10n ** BigInt(a.exp - exp) === b.n * 10n ** BigInt(b.exp - exp);
  };

  it('property: accepted exactly when String(Number(text)) has the same decimal value', () => {
    const decimalText = fc.tuple(fc.boolean(), fc.stringMatching(/^[0-9]{1,22}$/), fc.stringMatching(/^[0-9]{0,22}$/))
      .map(([negative, whole, fraction]) => `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`);
    fc.assert(fc.property(decimalText, (text) => {
      const exact = sameValue(exactValue(text), exactValue(String(Number(text))));
      if (exact) expect(run('decimal', text)).toBe(Number(text));
      else expect(() => run('decimal', text)).toThrow(RecordError);
    }), { numRuns: 3000 });
  });

  it('property: the shortest text of any finite double is accepted as that double', () => {
    fc.assert(fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (number) => {
      expect(Object.is(run('decimal', String(number)), number) || number === 0).toBe(true);
    }), { numRuns: 3000 });
  });
});

describe('integer', () => {
  it('converts integers within ±(2^53-1)', () => {
    expect(run('integer', '9007199254740991')).toBe(9007199254740991);
    expect(run('integer', '-42')).toBe(-42);
    expect(run('integer', 7)).toBe(7);
  });

  it('rejects bigints beyond 2^53 and non-integers', () => {
    expect(recordError(() => run('integer', '9007199254740993')).message).toMatch(/beyond/);
    expect(() => run('integer', 9007199254740993n)).toThrow(RecordError);
    for (const bad of ['1.5', 1.5, 'ten', '']) expect(() => run('integer', bad)).toThrow(RecordError);
  });
});

describe('json, boolean', () => {
  it('json parses text and passes parsed values', () => {
    expect(run('json', '{"a":[1,"😀"]}')).toEqual({ a: [1, '😀'] });
    expect(run('json', ['x'])).toEqual(['x']);
    expect(() => run('json', '{oops')).toThrow(RecordError);
  });

  it('boolean reads true/false, 1/0 and t/f', () => {
    expect([true, 1, '1', 't', 'TRUE'].map((v) => run('boolean', v))).toEqual([true, true, true, true, true]);
    expect([false, 0, '0', 'f', 'false'].map((v) => run('boolean', v))).toEqual([false, false, false, false, false]);
    expect(() => run('boolean', 'yes')).toThrow(RecordError);
    expect(() => run('boolean', 2)).toThrow(RecordError);
  });
});

describe('map and default', () => {
  const status: TransformSpec = { map: { PAID: 'paid', 1: 'paid', VOID: 'cancelled', OPEN: 'unpaid' } };

  it('maps values by their text', () => {
    expect(run(status, 'PAID')).toBe('paid');
    expect(run(status, 1)).toBe('paid');
    expect(run(status, 'VOID')).toBe('cancelled');
    expect(run(status, null)).toBeNull();
  });

  it('rejects an unmapped value listing the allowed values', () => {
    const error = recordError(() => run(status, 'REFUNDED'));
    expect(error.fields).toEqual(['f']);
    expect(error.message).toContain('"PAID", "VOID", "OPEN"');
  });

  it("uses the '*' value for every unmapped value", () => {
    expect(run({ map: { PAID: 'paid', '*': 'unpaid' } }, 'PENDING')).toBe('unpaid');
  });

  it('default replaces null only', () => {
    expect(run({ default: 'unpaid' }, null)).toBe('unpaid');
    expect(run({ default: 'unpaid' }, '')).toBe('');
  });
});
