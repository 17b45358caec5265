/**
 * Review of the Buffer text column (store/text-column.ts): PGlite's errors carry the failed
 * statement's parameters (`error.params`), and the run's error is logged with pino, which
 * writes a Buffer as `{"type":"Buffer","data":[114,112,...]}`. The log scrubs every known secret
 * value from each line as text (secrets/secret-registry.ts), which a list of byte numbers
 * escapes: a partner value equal to a secret (here the partner password) in a page whose
 * store statement failed went to the log readable, where the joined string it replaced was
 * scrubbed. The real CLI on the embedded store, its store statement failing: stderr must hold
 * the secret in no form, as text, bytes, hex or base64.
 */
import path from 'node:path';
import { sql } from 'kysely';
import { RO_PASSWORD } from '../helpers/partner.ts';
import { describe, expect, test } from '../fixture.ts';

describe('a failed store statement on the embedded store, logged', () => {
  test('holds no secret value of the page it carried, in any form', { timeout: 60_000 }, async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.embeddedStore();
    const home = path.dirname(store.location);
    const name = lab.unique('leak');
    // A partner row whose value is the connector's own (resolved, so known) partner password.
    await lab.view(partner, name, 'id bigint primary key, name text not null, updated_at timestamptz not null',
      `values (1, '${RO_PASSWORD}', now() - interval '1 minute'), (2, 'plain', now() - interval '1 minute')`);
    await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0', body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: id, first_name: name } }
` });
    // The store refuses the page's write (as a full disk or a broken table would): its statement fails with its parameters.
    await sql`alter table resources add constraint simulated_store_failure check (false) not valid`.execute(store.db);
    await store.close();

    const { code, stderr } = await lab.cli(['pull', name], { env: { REACH_PULLER_HOME: home, DATABASE_URL: '', LOG_LEVEL: 'info' } });
    expect(code).not.toBe(0);
    expect(stderr).toContain('simulated_store_failure');
    const bytes = [...Buffer.from(RO_PASSWORD, 'utf8')];
    for (const form of [RO_PASSWORD, bytes.join(','), bytes.join(', '), Buffer.from(RO_PASSWORD).toString('hex'), Buffer.from(RO_PASSWORD).toString('base64')]) {
      expect(stderr, `the log holds the secret as ${form}`).not.toContain(form);
    }
  });
});
