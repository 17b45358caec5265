/**
 * The strongest form of the engine's promise, as a property: whatever mix of inserts,
 * updates, late-committing transactions and page sizes happens between pulls, once the
 * settle window has passed the built-in store holds exactly the view's rows, newest values.
 *
 * The contract a cursor must keep (README: "what a cursor promises"): a row's cursor is set
 * no earlier than (its commit time - settle window). The generator keeps it: committed
 * writes use "now minus less than the window", late transactions commit well inside it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { pullConnector } from '../../src/engine/pull-connector.ts';
import type { Store } from '../../src/store/open-store.ts';
import { freshPartner, TEST_DIALECTS, type Partner } from '../helpers/partner.ts';
import { freshStore, registerYaml } from '../helpers/store.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { readResources } from '../helpers/resources.ts';
import { openAdminTransaction, type AdminTransaction } from '../helpers/admin-transaction.ts';

const SETTLE_SECONDS = 1;

type Op =
  | { kind: 'insert'; id: number; lagMs: number }
  | { kind: 'update'; id: number; lagMs: number }
  | { kind: 'lateBegin' }
  | { kind: 'lateCommit' }
  | { kind: 'pull'; pageSize: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('insert' as const), id: fc.integer({ min: 1, max: 40 }), lagMs: fc.integer({ min: 0, max: 700 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('update' as const), id: fc.integer({ min: 1, max: 40 }), lagMs: fc.integer({ min: 0, max: 700 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('lateBegin' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('lateCommit' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('pull' as const), pageSize: fc.integer({ min: 1, max: 6 }) }) },
);

for (const dialect of TEST_DIALECTS) {
  describe(`pull property on ${dialect}`, () => {
    let partner: Partner;
    let store: Store;
    let run = 0;

    beforeAll(async () => {
      partner = await freshPartner(dialect, `rp_prop_${dialect}`);
      store = await freshStore(`rp_prop_store_${dialect}`);
    });
    afterAll(async () => {
      await store?.close();
    });

    it('ends with the store equal to the view', { timeout: 240_000 }, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 25 }), async (ops) => {
          const id = `p${++run}`;
          const t = partner.types;
          await partner.exec(
            `create table t_${id} (id ${t.bigint} primary key, v integer not null, updated_at ${t.timestamp} not null)`,
            `create view v_${id} as select id, v, updated_at from t_${id}`,
          );
          await partner.grantReadOnly();
          let current: { pageSize: number; connector: Awaited<ReturnType<typeof registerYaml>> } | undefined;
          // Page sizes change between pulls by re-registering the connector: its watermark stays.
          const connectorFor = async (pageSize: number) => {
            if (current?.pageSize === pageSize) return current.connector;
            const connector = await registerYaml(store, id, `
tenant: ${id}
${partner.sourceYaml(`  settle_seconds: ${SETTLE_SECONDS}`)}
streams:
  - { name: rows, view: v_${id}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: ${pageSize},
      fields: { id: id, total_lifetime_value: v } }
`);
            current = { pageSize, connector };
            return connector;
          };
          const open: AdminTransaction[] = [];
          let counter = 0;
          let lateRows = 0;
          const write = (rowId: number, lagMs: number) =>
            `insert into t_${id} (id, v, updated_at) values (${rowId}, ${++counter}, ${partner.nowMinus(lagMs / 1000)}) ` +
            (partner.dialect === 'postgres'
              ? 'on conflict (id) do update set v = excluded.v, updated_at = excluded.updated_at'
              : 'on duplicate key update v = values(v), updated_at = values(updated_at)');
          try {
            for (const op of ops) {
              // Late transactions commit well inside the settle window, as the contract asks.
              while (open.length > 0 && Date.now() - open[0]!.startedAt > 400) await open.shift()!.commit();
              if (op.kind === 'insert' || op.kind === 'update') await partner.exec(write(op.id, op.lagMs));
              else if (op.kind === 'lateBegin') {
                // A row of its own: two open transactions on one row would wait on each other.
                const trx = await openAdminTransaction(partner);
                await trx.run(write(1000 + ++lateRows, 0));
                open.push(trx);
              } else if (op.kind === 'lateCommit') await open.shift()?.commit();
              else {
                const [summary] = await pullConnector({ store: store.db, connector: await connectorFor(op.pageSize), log: testLog });
                expect(summary!.error).toBeUndefined();
              }
            }
          } finally {
            for (const trx of open) await trx.commit();
          }
          // After the settle window every committed row is old enough to be read.
          await new Promise((r) => setTimeout(r, SETTLE_SECONDS * 1000 + 300));
          const [last] = await pullConnector({ store: store.db, connector: await connectorFor(5), log: testLog });
          expect(last!.error).toBeUndefined();
          const view = await partner.query<{ id: string; v: number }>(`select id, v from v_${id} order by id`);
          expect(await readResources(store.db, id, 'contacts')).toEqual(view.map((r) => ({ id: String(r.id), total_lifetime_value: Number(r.v) })));
        }),
        { numRuns: Number(process.env.PROPERTY_RUNS ?? 6), endOnFailure: true },
      );
    });
  });
}
