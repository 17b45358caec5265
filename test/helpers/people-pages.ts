/**
 * Pages delivered straight through a DeliveryPipeline into the built-in store, as a run
 * delivers them, for tests of how pages are decided and written: a `people` stream
 * (`{ id, name }`, cursor `updated_at`) and pages of reads at a given second.
 */
import { DeliveryPipeline } from '../../src/engine/page-delivery.ts';
import { judgePage, type PageOutcome } from '../../src/engine/page-judgement.ts';
import { withPlannedStream } from '../../src/engine/planned-stream.ts';
import { StoreSink } from '../../src/sinks/store/store-sink.ts';
import type { Position, SourceRow } from '../../src/interfaces.ts';
import { recordDelivered } from '../../src/store/delivery-state.ts';
import type { Store } from '../../src/store/open-store.ts';
import { startRun, ZERO_COUNTS } from '../../src/store/run-records.ts';
import { heldTransaction } from './held-transaction.ts';
import { readResources } from './resources.ts';
import { waitForLockWaits } from './waits.ts';
import type { Lab } from '../fixture.ts';

/** The cursor value of second `second` of 2024-05-01. */
export const at = (second: number) => `2024-05-01T00:00:${String(second).padStart(2, '0')}.000000Z`;

/** A page as the source returns it: rows `{ id, name }` read at `second`. */
export function page(names: Record<string, string>, second: number) {
  const rows: SourceRow[] = Object.entries(names).map(([id, name]) => ({ id, name }));
  const positions: Position[] = rows.map((r) => ({ cursor: at(second), key: [String(r.id)] }));
  return { rows, positions };
}
export type Page = ReturnType<typeof page>;

/** A connector with a stream `people` on `store`, and pages delivered into it through one pipeline. */
export async function peopleStream(lab: Lab, store: Store) {
  const partner = await lab.partner('postgres');
  const id = lab.unique('people');
  const { view } = await lab.view(partner, id, 'id bigint primary key, name text, updated_at timestamptz not null');
  const connector = await lab.connector(store, partner, { id, source: 'settle_seconds: 0', body: `streams:
  - { name: people, view: ${view}, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: id, first_name: name } }
` });
  const ref = { connectorId: connector.id, stream: 'people' };
  /** Delivers pages in one run (one pipeline); each page's counts as committed, in order. `beforeLast` runs once the last page is sent, before it commits. */
  const deliver = async (pages: Page[], beforeLast: () => Promise<void> = async () => {}) => {
    const outcomes: PageOutcome[] = [];
    const run = await startRun(store.db, ref, 'pull', undefined);
    await withPlannedStream(store.db, connector, 'people', undefined, async (plan) => {
      const pipeline = new DeliveryPipeline({ plan, store: store.db, sink: new StoreSink(), run, openRejections: { value: false } });
      for (const [i, p] of pages.entries()) {
        await pipeline.push(judgePage(plan, run.id, p.rows, p.positions), async () => {}, (o) => { outcomes[i] = o; });
        if (i === pages.length - 1) await beforeLast();
      }
      await pipeline.drain();
    });
    await run.finish('succeeded', ZERO_COUNTS);
    return outcomes.map((o) => ({ sent: o.sent, deleted: o.deleted, unchanged: o.unchanged }));
  };
  /** The store's records, id -> first name. */
  const stored = async () => Object.fromEntries((await readResources(store.db, connector.tenant, 'contacts')).map((r) => [r.id, r.first_name]));
  /** The stream's delivery records, id -> the second of their version (and ` deleted`). */
  const delivered = async () => Object.fromEntries((await store.db.selectFrom('delivered').select(['external_id', 'version', 'deleted'])
    .where('connector_id', '=', ref.connectorId).where('stream', '=', 'people').execute())
    .map((r) => [r.external_id, `${r.version.slice(17, 19)}${r.deleted ? ' deleted' : ''}`]));
  /**
   * Another writer's page of one record, written and left uncommitted (a pull beside a
   * backfill, or another stream of the connector): `body`, or a delete when null, at `second`.
   */
  const concurrentWrite = (stream: string, id: string, body: object | null, second: number, end: 'commits' | 'rolls back' = 'commits') =>
    heldTransaction(store.db, async (trx) => {
      await new StoreSink().write(trx, { tenant: connector.tenant, schema: 'contacts', writer: `${connector.id}/${stream}`,
        upserts: body ? [{ externalId: id, json: JSON.stringify(body), version: at(second) }] : [],
        deletes: body ? [] : [{ externalId: id, version: at(second) }] });
      await recordDelivered(trx, { connectorId: connector.id, stream }, [{ externalId: id, contentHash: body ? 'h' : 'deleted', version: at(second), deleted: !body }]);
    }, async () => { if (end === 'rolls back') throw new Error('rolled back'); });
  /** Delivers pages in one run; once the last one waits at its commit on `held` (a concurrentWrite), that write ends. */
  const deliverPast = async (pages: Page[], held: ReturnType<typeof concurrentWrite>) => {
    await held.ready;
    return deliver(pages, async () => {
      await waitForLockWaits(store.db);
      held.release();
      await held.done.catch(() => undefined);
    });
  };
  return { ref, connector, deliver, deliverPast, concurrentWrite, stored, delivered };
}
