/**
 * Guessing the ops token, over real HTTP: after ten wrong tokens from one address within a
 * minute, the ops API and the console's login answer 429 with Retry-After without looking at
 * the token (the right one included), whichever of the two the guesses went to; requests
 * without a token are not guesses. Then the window, measured by the counter itself.
 */
import { TokenGuesses } from '../../src/server/token-guesses.ts';
import { CONSOLE_TOKEN, send, startConsole } from './console/console-fixtures.ts';
import { describe, expect, test } from '../fixture.ts';

describe('ops token guesses', () => {
  test('ten wrong tokens from an address, to the API or the console login, stop its next tries with 429', async ({ lab }) => {
    const s = await startConsole(lab);
    try {
      const api = (token?: string) => fetch(`${s.base}/openapi.json`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
      const console = (token: string) => send(s.base, 'POST', '/console/login', { form: { operator: 'Guesser', token } });
      // No token at all is not a guess.
      for (let i = 0; i < 12; i++) expect((await api()).status).toBe(401);
      expect((await api(CONSOLE_TOKEN)).status).toBe(200);
      // Five wrong guesses at the API and five at the login: ten.
      for (let i = 0; i < 5; i++) expect((await api(`guess-${i}`)).status).toBe(401);
      for (let i = 0; i < 5; i++) expect((await console(`guess-${i}`)).status).toBe(401);
      const refused = await api(CONSOLE_TOKEN);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60);
      expect(await refused.json()).toMatchObject({ error: 'RP_TOO_MANY_GUESSES' });
      const login = await console(CONSOLE_TOKEN);
      expect(login.status).toBe(429);
      expect(login.headers.get('set-cookie')).toBeNull();
      expect(login.text).toContain('Too many wrong tokens');
      expect(login.text).not.toContain(CONSOLE_TOKEN);
    } finally {
      await s.close();
    }
  });

  test('an address may try again once its oldest counted guess is a window old; the table of addresses stays bounded', () => {
    const guesses = new TokenGuesses(3, 60_000, 2);
    for (const at of [0, 10_000, 20_000]) guesses.wrong('a', at);
    expect(guesses.retryAfterSeconds('a', 30_000)).toBe(30);
    expect(guesses.retryAfterSeconds('a', 59_999)).toBe(1);
    expect(guesses.retryAfterSeconds('a', 60_000)).toBe(0);
    guesses.wrong('a', 60_000);
    expect(guesses.retryAfterSeconds('a', 60_001)).toBe(10);
    // A third address pushes out the one that guessed longest ago.
    for (const address of ['b', 'c']) for (let i = 0; i < 3; i++) guesses.wrong(address, 61_000);
    expect(guesses.retryAfterSeconds('a', 61_000)).toBe(0);
    expect(guesses.retryAfterSeconds('c', 61_000)).toBe(60);
  });
});
