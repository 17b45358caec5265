/**
 * A backfill's chunks end at bounds fixed when it was planned, the last one at the seed; each
 * page reads no further than the settle ceiling of its own partner clock. When a resumed
 * backfill's ceiling is below its bounds (settle_seconds raised between the cancel and the
 * resume; a partner clock stepped back by a failover does the same), a chunk's last page is
 * short below its upper bound: the rows between were not read. Found in review: the chunk was
 * recorded as succeeded and the backfill seeded the watermark to its seed, so the next pulls
 * started above rows no run had read, and they never reached the store.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { resumeBackfill, startBackfill } from '../../src/backfill/run-backfill.ts';
import { backfillProgress } from '../../src/backfill/backfill-progress.ts';
import { TEST_DIALECTS } from '../helpers/partner.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test } from '../fixture.ts';

for (const dialect of TEST_DIALECTS) {
  describe(`a backfill resumed under a lower settle ceiling (${dialect})`, () => {
    test('does not end, nor seed the watermark, above rows it could not read yet; after the settle window the store equals the view', async ({ lab }) => {
      const partner = await lab.partner(dialect);
      const store = await lab.store();
      const id = lab.unique('rl');
      const fill = dialect === 'postgres'
        ? `select g, 'n' || g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 millisecond' from generate_series(1, 400) g`
        : `select seq, concat('n', seq), timestamp '2024-01-01 00:00:00' + interval seq * 1000 microsecond from seq_1_to_400`;
      await lab.view(partner, id, `id bigint primary key, name ${partner.types.text}, cur ${partner.types.timestamp} not null`, `(id, name, cur) ${fill}`);
      // Rows changed a moment ago: settled for settle_seconds 0, not for 6.
      await partner.exec(`update t_${id} set name = concat('recent-', id), cur = ${partner.nowMinus(0.5)} where id % 10 = 0`);
      await sleep(600);
      const register = (settle: number) => lab.connector(store, partner, {
        id, tenant: `tenant-${id}`, source: `settle_seconds: ${settle}\nmax_connections: 2`,
        body: `streams:
  - { name: s, view: v_${id}, schema: contacts, primary_key: [id], cursor: cur, fields: { id: id, first_name: name } }
`,
      });
      const connector = await register(0);
      const deps = { store: store.db, log: testLog };
      // One chunk in cursor order, 200 rows/s, stopped (as Ctrl-C does) at 300 of its 360 old rows, before the recent ones.
      const stop = new AbortController();
      const handle = await startBackfill({ ...deps, signal: stop.signal, onProgress: (p) => { if (p.rowsDone >= 300) stop.abort(); } },
        { connector: id, chunks: 1, checkpointRows: 20, maxRowsPerSecond: 200 });
      expect(await handle.done).toMatchObject({ state: 'cancelled' });

      // The operator raises the settle window, then resumes.
      await register(6);
      const resumed = await resumeBackfill(deps, handle.id);
      const outcome = await resumed.done;
      // Either it waits for its ceiling to pass its end and succeeds, or it stops short without claiming the rows.
      if (outcome.state !== 'succeeded') {
        await sleep(6_500);
        expect(await (await resumeBackfill(deps, handle.id)).done).toMatchObject({ state: 'succeeded' });
      }
      expect(await backfillProgress(store.db, handle.id)).toMatchObject({ state: 'succeeded' });

      await sleep(6_500);
      const [pull] = await lab.pull(store, connector);
      expect(pull!.error).toBeUndefined();
      const view = (await partner.query<{ id: string | number; name: string }>(`select id, name from v_${id} order by id`))
        .map((r) => JSON.stringify({ id: String(r.id), first_name: r.name }));
      const held = (await readResources(store.db, connector.tenant, 'contacts')).map((b) => JSON.stringify({ id: b.id, first_name: b.first_name }));
      expect(held).toEqual(view);
    }, 60_000);
  });
}
