/**
 * Review of the plain INSERT for pages a stream never delivered (store/new-rows.ts), end to
 * end: a first backfill (parallel chunks, small pages, not holding the stream) beside pulls of
 * the same stream and of a second stream writing the same records, while the partner updates
 * rows, nulls a field and soft-deletes and restores rows; then `reset --forget-delivered` and
 * a second backfill the same way. After a last pull the built-in store equals the views
 * (each stream's fields, null fields absent, deleted rows gone), on PostgreSQL and PGlite.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startBackfill } from '../../src/backfill/run-backfill.ts';
import { pullConnector } from '../../src/engine/pull-connector.ts';
import { resetStream } from '../../src/engine/reset-stream.ts';
import type { Store } from '../../src/store/open-store.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test } from '../fixture.ts';

for (const where of ['server PostgreSQL', 'embedded PGlite'] as const) {
  describe(`new rows beside pulls (${where})`, () => {
    test('a first backfill and a backfill after reset --forget-delivered, beside pulls of two streams: the store equals the views', async ({ lab }) => {
      const partner = await lab.partner('postgres');
      const store: Store = where === 'server PostgreSQL' ? await lab.store() : await lab.embeddedStore();
      const name = lab.unique(`nr${where[0]}`);
      await lab.view(partner, `${name}_p`, 'id bigint primary key, email text, phone text, deleted_at timestamptz, updated_at timestamptz not null',
        `select g, 'u' || g || '@x.io', '+1' || g, null, clock_timestamp() - interval '1 hour' + g * interval '5 ms' from generate_series(1, 360) g`);
      await lab.view(partner, `${name}_m`, 'id bigint primary key, nick text, updated_at timestamptz not null',
        `select g, 'n' || g, clock_timestamp() - interval '1 hour' + (400 - g) * interval '5 ms' from generate_series(1, 360, 2) g`);
      await partner.exec(`create index t_${name}_p_c on t_${name}_p (updated_at, id)`, `create index t_${name}_m_c on t_${name}_m (updated_at, id)`);
      const connector = await lab.connector(store, partner, { id: name, source: 'settle_seconds: 0\nmax_connections: 4', body: `streams:
  - { name: people, view: v_${name}_p, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 11, deleted: { column: deleted_at }, fields: { id: id, email: email, phone: phone } }
  - { name: mail, view: v_${name}_m, schema: contacts, primary_key: [id], cursor: updated_at, page_size: 17, fields: { id: id, nick: nick } }
` });

      const churn = async (round: number) => {
        await partner.exec(
          `update t_${name}_p set email = 'c${round}-' || id || '@x.io', updated_at = clock_timestamp() where id % 13 = ${round % 13}`,
          `update t_${name}_p set phone = case when phone is null then '+9' || id end, updated_at = clock_timestamp() where id % 19 = ${round % 19}`,
          `update t_${name}_p set deleted_at = case when deleted_at is null then clock_timestamp() end, updated_at = clock_timestamp() where id % 37 = ${round % 37} and id % 2 = 0`,
          `update t_${name}_m set nick = 'm${round}-' || id, updated_at = clock_timestamp() where id % 11 = ${(2 * round + 1) % 11}`,
        );
      };
      const besideBackfill = async (roundsFrom: number) => {
        const handle = await startBackfill({ store: store.db, log: testLog }, { connector: name, stream: 'people', chunks: 4, checkpointRows: 9, maxRowsPerSecond: 150 });
        const errors: string[] = [];
        // A fixed number of rounds of churn beside the backfill and its pulls.
        for (let round = roundsFrom; round < roundsFrom + 10; round++) {
          await churn(round);
          for (const s of await pullConnector({ store: store.db, connector, log: testLog })) {
            if (s.error && !/RP_STREAM_BUSY/.test(String(s.error))) errors.push(`${s.stream}: ${String(s.error)}`);
          }
          await sleep(50);
        }
        expect(await handle.done).toMatchObject({ state: 'succeeded' });
        expect(errors).toEqual([]);
      };

      await besideBackfill(0);
      await lab.pull(store, connector);
      await expectStoreEqualsViews();

      await resetStream(store.db, { connectorId: name, stream: 'people' }, { mode: 'forget-delivered' }, testLog);
      await besideBackfill(20);
      const last = await lab.pull(store, connector);
      expect(last.map((s) => s.error)).toEqual([undefined, undefined]);
      await expectStoreEqualsViews();

      async function expectStoreEqualsViews() {
        const people = await partner.query<{ id: string; email: string; phone: string | null; deleted: boolean }>(
          `select id::text, email, phone, deleted_at is not null as deleted from v_${name}_p order by id::bigint`);
        const mail = new Map((await partner.query<{ id: string; nick: string }>(`select id::text, nick from v_${name}_m`)).map((r) => [r.id, r.nick]));
        const expected = people.filter((p) => !p.deleted).map((p) => ({
          id: p.id, email: p.email, ...(p.phone === null ? {} : { phone: p.phone }), ...(mail.has(p.id) ? { nick: mail.get(p.id) } : {}),
        }));
        // Only people `mail` has no row for are deleted (a tombstone empties the merged record).
        const stored = await readResources(store.db, connector.tenant, 'contacts');
        const byId = new Map(stored.map((r) => [String(r.id), r]));
        const canon = (r: object | undefined) => JSON.stringify(r && Object.fromEntries(Object.entries(r).sort()));
        const wrong = expected.filter((e) => canon(byId.get(e.id)) !== canon(e))
          .map((e) => ({ expected: e, stored: byId.get(e.id) }));
        const extra = stored.filter((r) => !expected.some((e) => e.id === r.id));
        expect({ wrong: wrong.slice(0, 5), wrongCount: wrong.length, extra: extra.slice(0, 5), extraCount: extra.length })
          .toEqual({ wrong: [], wrongCount: 0, extra: [], extraCount: 0 });
        expect(stored).toEqual(expected);
      }
    }, 240_000);
  });
}
