/** The connector page's echo of pasted text (pages/connector.ts): written-out secrets never go back on the page. */
import { describe, expect, test } from 'vitest';
import { redactWrittenSecrets } from '../../../src/server/console/pages/connector.ts';

describe('redactWrittenSecrets', () => {
  test('removes written-out secrets at any depth, keeps references and the rest of the text', () => {
    const text = 'source:\n  password: |\n    Hunter2\n  user: u\nreach:\n  token: "t0k3n"\nnote: ${secret:X}\nother:\n  password: ${secret:PW}\n';
    const shown = redactWrittenSecrets(text);
    expect(shown).not.toMatch(/Hunter2|t0k3n/);
    expect(shown).toContain('  user: u\n');
    expect(shown).toContain('password: ${secret:PW}');
    // Written at an anchor, named through an alias.
    expect(redactWrittenSecrets('x: &pw Hunter2\nsource:\n  password: *pw\n')).not.toContain('Hunter2');
  });

  test('text the parser cannot read is not shown back when it names a secret-bearing key', () => {
    expect(redactWrittenSecrets('source:\n  password: "Hunter2\n  user: u\n')).toBe('');
    expect(redactWrittenSecrets('streams: [ { name: a\n')).toBe('streams: [ { name: a\n');
  });
});
