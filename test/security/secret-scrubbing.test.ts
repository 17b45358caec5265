/**
 * Scrubbing: a resolved secret never survives in text leaving the process, whatever form
 * the text carries it in, and a secret that contains or overlaps another is scrubbed whole.
 */
import { describe, expect, it } from 'vitest';
import { registerSecret, scrubSecrets } from '../../src/secrets/secret-registry.ts';

describe('scrubSecrets', () => {
  it('scrubs a secret JSON-escaped, as it appears in a JSON log line or --json output', () => {
    const secret = 'pa"ss\\word-91x';
    registerSecret(secret);
    const line = JSON.stringify({ msg: 'connect failed', detail: `password ${secret} refused` });
    expect(scrubSecrets(line)).not.toContain('pa\\"ss');
    expect(scrubSecrets(line)).toContain('[REDACTED]');
    expect(scrubSecrets(line)).not.toContain('word-91x');
  });

  it('scrubs a secret URL-encoded, as in a connection string', () => {
    const secret = 'p@ss w/rd:77';
    registerSecret(secret);
    const url = `postgres://u:${encodeURIComponent(secret)}@h/db?pw=${encodeURIComponent(secret).replace(/%20/g, '+')}`;
    expect(scrubSecrets(url)).toBe('postgres://u:[REDACTED]@h/db?pw=[REDACTED]');
  });

  it('scrubs the longer of two secrets whole when one is a prefix of the other', () => {
    registerSecret('prefix-secret');
    registerSecret('prefix-secret-and-its-tail');
    expect(scrubSecrets('token=prefix-secret-and-its-tail;')).toBe('token=[REDACTED];');
  });

  it('leaves nothing of either of two secrets that overlap without one containing the other (found in review)', () => {
    registerSecret('rv14-AAAA-BBBB');
    registerSecret('BBBB-CCCC-rv14');
    expect(scrubSecrets('seen: rv14-AAAA-BBBB-CCCC-rv14 and BBBB-CCCC-rv14.')).toBe('seen: [REDACTED] and [REDACTED].');
  });
});
