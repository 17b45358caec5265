/**
 * A partner's `max_connections` holds across every process: the one-off commands an operator
 * runs by hand (`pull`, `preview`, `reconcile`, `retry-rejects`, `verify`) wait for a free
 * slot of the source like a scheduled run, instead of opening one connection more beside a
 * `serve` replica that holds every slot (they took none: noticed since session 5).
 */
import { sql } from 'kysely';
import { pullConnector } from '../../src/engine/pull-connector.ts';
import { previewStream } from '../../src/engine/preview.ts';
import { reconcileStream } from '../../src/engine/reconcile.ts';
import { retryRejects } from '../../src/engine/retry-rejects.ts';
import { verifyConnector } from '../../src/engine/verify.ts';
import type { Hold } from '../../src/store/holds.ts';
import { takeSourceSlot } from '../../src/store/source-slots.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { sleep } from '../scheduler/ops-fixtures.ts';
import { describe, expect, test } from '../fixture.ts';

const ROWS = 30;

describe('one-off commands and a source at its cap', () => {
  test('pull, preview, reconcile, retry-rejects and verify open no partner session while another process holds every slot, then run', { timeout: 120_000 }, async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const name = lab.unique('slot');
    // Row 7's phone is no phone number: a quarantine entry for retry-rejects to read again.
    await lab.view(partner, name, 'id bigint primary key, phone text, updated_at timestamptz not null',
      `select g, case when g = 7 then 'no phone' else '(212) 555-' || (1000 + g) end, now() - interval '1 hour' + g * interval '1 ms' from generate_series(1, ${ROWS}) g`);
    const connector = await lab.connector(store, partner, {
      id: name, source: 'max_connections: 1\nsettle_seconds: 0',
      body: `streams:
  - { name: people, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, reject_threshold: 0.5, fields: { id: id, phone: { column: phone, transform: [{ phone_e164: { region: US } }] } } }
`,
    });
    expect(await pullConnector({ store: store.db, connector, log: testLog })).toMatchObject([{ status: 'succeeded', rowsSent: ROWS - 1, rowsRejected: 1 }]);

    const sessions = async () => Number((await partner.query<{ n: string }>(
      `select count(*)::text as n from pg_stat_activity where datname = '${partner.database}' and application_name = 'reach-puller'`))[0]!.n);
    const replica = (await lab.storeProcess(store, 'replica')).store;
    /** Runs the commands while another process holds the source's only slot; they must wait, then run. */
    const whileSlotHeld = async <T>(commands: Record<string, () => Promise<T>>): Promise<T[]> => {
      let held: Hold | undefined = await takeSourceSlot(replica.db, connector.sourceId, 1);
      expect(held).toBeDefined();
      try {
        const done: string[] = [];
        const running = Promise.all(Object.entries(commands).map(([what, run]) => run().then((result) => {
          done.push(what);
          return result;
        })));
        // Each polls for the slot (every 500 ms): long enough for any that does not to have read.
        await sleep(2_000);
        expect(done).toEqual([]);
        expect(await sessions()).toBe(0);
        await held!.release();
        held = undefined;
        return await running;
      } finally {
        await held?.release();
      }
    };

    const [pulled, preview, reconciled, verified] = await whileSlotHeld<unknown>({
      pull: () => pullConnector({ store: store.db, connector, log: testLog }),
      preview: () => previewStream({ store: store.db, connector, stream: 'people', limit: 5 }),
      reconcile: () => reconcileStream({ store: store.db, connector, stream: 'people', log: testLog, dryRun: true }),
      verify: () => verifyConnector({ store: store.db, connector, log: testLog }),
    });
    expect(pulled).toMatchObject([{ status: 'succeeded' }]);
    expect((preview as { rows: unknown[] }).rows).toHaveLength(5);
    expect(reconciled).toMatchObject({ missing: [] });
    expect(verified).toMatchObject([{ viewRows: ROWS, differences: 0 }]);
    // A retry holds the stream as a pull does: on its own.
    const [retried] = await whileSlotHeld({ 'retry-rejects': () => retryRejects({ store: store.db, connector, stream: 'people', log: testLog }) });
    expect(retried).toMatchObject([{ stream: 'people' }]);
    const stored = await sql<{ n: string }>`select count(*)::text as n from resources where tenant_id = ${connector.tenant}`.execute(store.db);
    expect(Number(stored.rows[0]!.n)).toBe(ROWS - 1);
  });
});
