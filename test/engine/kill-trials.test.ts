/**
 * Kill -9 trials: a backfill, and a pull, each run as the real CLI and killed at a random
 * moment (while rows keep changing), then resumed and pulled again at once, in a process of
 * its own. Every trial must end with the sink equal to the view, on both sinks; none may be
 * refused because the dead process still seemed to hold its stream.
 */
import { resumableBackfills, resumeBackfill } from '../../src/backfill/run-backfill.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { readResources } from '../helpers/resources.ts';
import { shortSendDeadlines } from '../helpers/short-send-deadlines.ts';
import { describe, expect, test } from '../fixture.ts';

// The killed process and this one agree on short send deadlines, so the dead process's sends are settled within the test.
const CHILD_TIMING = shortSendDeadlines();

const TRIALS = Number(process.env.KILL_TRIALS ?? 3);

for (const sink of ['store', 'reach'] as const) {
  describe(`kill -9 trials (${sink} sink)`, () => {
    for (let trial = 1; trial <= TRIALS; trial++) {
      for (const command of ['backfill', 'pull'] as const) {
        test(`${command} killed at a random moment, then resumed and pulled at once, ends equal to the view (trial ${trial})`, async ({ lab }) => {
          const partner = await lab.partner('postgres');
          const store = await lab.store();
          const reach = sink === 'reach' ? await lab.reachApi({ maxApplyDelayMs: 100 }) : undefined;
          const name = lab.unique(`k${sink[0]}${command[0]}`);
          await lab.view(partner, name, 'id bigint primary key, email text, deleted_at timestamptz, updated_at timestamptz not null',
            `select g, 'u' || g || '@x.io', null, now() - interval '1 hour' + g * interval '1 millisecond' from generate_series(1, 4000) g`);
          await partner.exec(`create index t_${name}_cursor on t_${name} (updated_at, id)`);
          const connector = await lab.connector(store, partner, { id: name, reach, source: 'settle_seconds: 1\nmax_connections: 3', body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 100,
      deleted: { column: deleted_at }, fields: { id: id, email: email } }
` });
          const args = command === 'backfill' ? ['backfill', name, '--chunks', '3', '--checkpoint-rows', '100', '--max-rows-per-second', '3000'] : ['pull', name];
          const { child, result } = lab.spawnCli(args, { env: { DATABASE_URL: store.url, LOG_LEVEL: 'silent', ...CHILD_TIMING } });
          // Rows change while it runs: updates, soft deletes, new rows.
          const writes = (async () => {
            for (let i = 0; i < 6 && child.exitCode === null; i++) {
              await partner.exec(
                `update t_${name} set email = 'changed-${i}-' || id || '@x.io', updated_at = now() where id % 97 = ${i}`,
                `update t_${name} set deleted_at = now(), updated_at = now() where id % 389 = ${i}`,
                `insert into t_${name} values (${5000 + i}, 'new${i}@x.io', null, now())`,
              );
              await new Promise((r) => setTimeout(r, 150));
            }
          })();
          // Killed once it has made some progress, at a random moment after that.
          while ((await store.db.selectFrom('runs').select('id').where('connector_id', '=', name).where('pages', '>', 0).execute()).length === 0) {
            if (child.exitCode !== null) throw new Error(`${command} ended before it was killed: ${(await result).stderr}`);
            await new Promise((r) => setTimeout(r, 20));
          }
          await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 600)));
          child.kill('SIGKILL');
          const killed = await result;
          await writes;
          expect(killed.signal === 'SIGKILL' || killed.code === 0).toBe(true);

          // At once: resume what was interrupted, then pull; nothing may be refused as busy.
          for (const id of await resumableBackfills(store.db)) {
            expect(await (await resumeBackfill({ store: store.db, log: testLog }, id)).done).toMatchObject({ state: 'succeeded' });
          }
          await new Promise((r) => setTimeout(r, 1_100));
          const [pull] = await lab.pull(store, connector);
          expect(pull).toMatchObject({ status: 'succeeded' });

          const view = await partner.query<{ id: string; email: string }>(`select id::text, email from v_${name} where deleted_at is null order by id`);
          const want = Object.fromEntries(view.map((r) => [r.id, { id: r.id, email: r.email }]));
          const got = reach
            ? (await reach.settled(), Object.fromEntries(reach.resources(connector.tenant, 'contacts')))
            : Object.fromEntries((await readResources(store.db, connector.tenant, 'contacts')).map((r) => [String(r.id), r]));
          expect(got).toEqual(want);
        }, 120_000);
      }
    }
  });
}
