/**
 * Review 8b: the brief commands (run with V8's --liftoff-only, src/cli/main.ts) on the embedded
 * store: same results as read in-process (hostile ids, many records), `--help` of a brief
 * command, an unknown word, `--version`, and no word at all behave as before.
 */
import { sql } from 'kysely';
import { openStore } from '../../src/store/open-store.ts';
import { describe, expect, test } from '../fixture.ts';

const RECORDS = 5000;

describe('review 8b: brief commands on the embedded store', () => {
  test('resources and migrate give what the store holds; help, unknown words and --version unchanged', { timeout: 180_000 }, async ({ lab }) => {
    const home = await lab.tmpDir();
    const env = { REACH_PULLER_HOME: home, DATABASE_URL: '' };
    const migrated = await lab.cli(['migrate'], { env });
    expect(migrated, migrated.stderr).toMatchObject({ code: 0 });
    expect(migrated.stdout).toMatch(/schema version/);

    const store = await openStore({ home, command: 'test' });
    try {
      await sql`insert into resources (tenant_id, schema_name, external_id, body, version, stream_versions, deleted, updated_at)
        select 't1', 'contacts', case when g % 3 = 0 then chr(65279) || g else 'id' || chr(10) || g end,
          jsonb_build_object('id', g::text, 'first_name', repeat('é', g % 50), 'total_lifetime_value', g * 1.5), '0', '{}'::jsonb, g % 7 = 0, now()
        from generate_series(1, ${RECORDS}) g`.execute(store.db);
    } finally {
      await store.close();
    }
    const want = Array.from({ length: RECORDS }, (_, i) => i + 1).filter((g) => g % 7 !== 0)
      .map((g) => ({ id: String(g), first_name: 'é'.repeat(g % 50), total_lifetime_value: g * 1.5 }));

    // Some 200 kB of output with a two-byte character every other byte: some straddle two
    // chunks of the pipe (lab.cli decoded chunk by chunk and broke them).
    const listed = await lab.cli(['resources', 't1', '--schema', 'contacts', '--json', '--limit', String(RECORDS)], { env, timeoutMs: 120_000 });
    expect(listed, listed.stderr).toMatchObject({ code: 0 });
    const got = JSON.parse(listed.stdout) as { id: string }[];
    const byId = (a: { id: string }, b: { id: string }) => Number(a.id) - Number(b.id);
    expect(got.sort(byId)).toEqual(want);

    const again = await lab.cli(['migrate'], { env });
    expect(again).toMatchObject({ code: 0 });
    expect(again.stdout).toMatch(/up to date/);

    for (const word of ['status', 'resources', 'backfills', 'secret', 'migrate']) {
      const help = await lab.cli([word, '--help'], { env });
      expect(help, `${word} --help: ${help.stderr}`).toMatchObject({ code: 0 });
      expect(help.stdout).toMatch(new RegExp(`Usage: reach-puller ${word}`));
    }
    const unknown = await lab.cli(['statuss'], { env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'statuss'/);
    const version = await lab.cli(['--version'], { env });
    expect(version).toMatchObject({ code: 0, stdout: '0.1.0\n' });
    const none = await lab.cli([], { env });
    expect(none.signal).toBeNull();
    expect(none.stderr).not.toMatch(/Fatal|V8|Liftoff/i);
  });
});
