/**
 * The strongest form of the engine's promise, as a property: whatever mix of inserts,
 * updates, late-committing transactions and page sizes happens between pulls, once the
 * settle window has passed the built-in store holds exactly the view's rows, newest values.
 *
 * The contract a cursor must keep (docs/incremental-pulls.md: "the cursor contract"): a row's cursor is set
 * no earlier than (its commit time - settle window). The generator keeps it: committed
 * writes use "now minus less than the window", late transactions commit well inside it.
 */
import fc from 'fast-check';
import type { RegisteredConnector } from '../../src/store/connector-registry.ts';
import { TEST_DIALECTS } from '../helpers/partner.ts';
import { describe, expect, test } from '../fixture.ts';
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
    test('ends with the store equal to the view', { timeout: 240_000 }, async ({ lab }) => {
      const partner = await lab.partner(dialect);
      const store = await lab.store();
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 25 }), async (ops) => {
          // Each history gets its own table, view and connector (tenant = id) in the file's partner and store.
          const id = lab.unique('p');
          const t = partner.types;
          await lab.view(partner, id, `id ${t.bigint} primary key, v integer not null, updated_at ${t.timestamp} not null`);
          let current: { pageSize: number; connector: RegisteredConnector } | undefined;
          // Page sizes change between pulls by re-registering the connector: its watermark stays.
          const connectorFor = async (pageSize: number) => {
            if (current?.pageSize === pageSize) return current.connector;
            const connector = await lab.connector(store, partner, { id, source: `settle_seconds: ${SETTLE_SECONDS}`, body: `streams:
  - { name: rows, view: v_${id}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: ${pageSize},
      fields: { id: id, total_lifetime_value: v } }
` });
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
                const [summary] = await lab.pull(store, await connectorFor(op.pageSize));
                expect(summary!.error).toBeUndefined();
              }
            }
          } finally {
            for (const trx of open) await trx.commit();
          }
          // After the settle window every committed row is old enough to be read.
          await new Promise((r) => setTimeout(r, SETTLE_SECONDS * 1000 + 300));
          const [last] = await lab.pull(store, await connectorFor(5));
          expect(last!.error).toBeUndefined();
          const view = await partner.query<{ id: string; v: number }>(`select id, v from v_${id} order by id`);
          expect(await readResources(store.db, id, 'contacts')).toEqual(view.map((r) => ({ id: String(r.id), total_lifetime_value: Number(r.v) })));
        }),
        { numRuns: Number(process.env.PROPERTY_RUNS ?? 6), endOnFailure: true },
      );
    });
  });
}
