/** Console sessions: signed by a key of the ops token's, refused when altered, expired, or signed under another token. */
import { describe, expect, test } from 'vitest';
import { SessionKeys } from '../../../src/server/console/session.ts';
import { csrfTokenMatches } from '../../../src/server/console/csrf.ts';

describe('console session', () => {
  const keys = new SessionKeys('ops-token-1');

  test('a cookie reads back as its session until it expires', () => {
    const { session, cookie } = keys.open('Ada', 1_000);
    expect(keys.read(cookie, 2_000)).toEqual(session);
    expect(keys.read(cookie, session.expires + 1)).toBeUndefined();
    expect(cookie).not.toContain('ops-token-1');
  });

  test('an altered cookie, or one signed under another ops token, is no session', () => {
    const { cookie } = keys.open('Ada');
    const [payload, signature] = cookie.split('.');
    const forged = Buffer.from(JSON.stringify({ operator: 'Mallory', csrf: 'x', expires: Date.now() + 1e9 })).toString('base64url');
    expect(keys.read(`${forged}.${signature}`)).toBeUndefined();
    // The last character of 32 bytes in base64url carries two spare bits: another spelling of the same signature is refused too.
    const last = signature!.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const respelled = `${signature!.slice(0, -1)}${alphabet[alphabet.indexOf(last) ^ 1]}`;
    expect(Buffer.from(respelled, 'base64url').equals(Buffer.from(signature!, 'base64url'))).toBe(true);
    expect(keys.read(`${payload}.${respelled}`)).toBeUndefined();
    expect(keys.read(`${payload}`)).toBeUndefined();
    expect(keys.read(`${cookie}.x`)).toBeUndefined();
    expect(new SessionKeys('ops-token-2').read(cookie)).toBeUndefined();
  });

  test('the token and CSRF checks take only exact values', () => {
    expect(keys.tokenMatches('ops-token-1')).toBe(true);
    expect(keys.tokenMatches('ops-token-')).toBe(false);
    expect(keys.tokenMatches('')).toBe(false);
    const { session } = keys.open('Ada');
    expect(csrfTokenMatches(session, session.csrf)).toBe(true);
    expect(csrfTokenMatches(session, `${session.csrf} `)).toBe(false);
    expect(csrfTokenMatches(session, undefined)).toBe(false);
    expect(csrfTokenMatches(session, [session.csrf])).toBe(false);
  });
});
