/**
 * Found in review: a page whose record waits for an earlier send can lose the claim race to a
 * LATER page of its own run (page k+1 waits for page k's send of record R, page k+2 claims R
 * the moment page k's send settles). If page k+2's post then fails, page k+1 waits for a send
 * of its own run that never settles (#mayBeSettledHere never settles the run's own sends, and
 * a failed post did not stop the run's signal): page k+1 never committed, drain never returned,
 * the run never ended and kept its stream (heartbeats go on, so nothing took it over). A failed
 * post now stops the run's signal (LiveRun.stop), and every waiter ends with it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createSink, reachTarget, storeRuntime } from '../../src/engine/connector-runtime.ts';
import { DeliveryPipeline } from '../../src/engine/page-delivery.ts';
import { judgePage } from '../../src/engine/page-judgement.ts';
import { startRun, ZERO_COUNTS } from '../../src/store/run-records.ts';
import { withPlannedStream } from '../../src/engine/planned-stream.ts';
import type { Position, SourceRow } from '../../src/interfaces.ts';
import type { BatchSink } from '../../src/sinks/sink.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { withPost } from '../helpers/wrapped-sink.ts';
import { describe, expect, test } from '../fixture.ts';

describe('delivery pipeline: a later page\'s failed post', () => {
  test('a run whose later page fails to post ends (fails) instead of hanging', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const api = await lab.reachApi({ processingDelayMs: 2_000 });
    const { view } = await lab.view(partner, 'hot', 'id bigint primary key, name text, updated_at timestamptz not null');
    const connector = await lab.connector(store, partner, { id: 'hot', source: 'settle_seconds: 0', reach: api, body: `streams:
  - { name: people, view: ${view}, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: id, first_name: name } }
` });
    const target = await reachTarget(connector.config, storeRuntime(store.db));
    const real = createSink(target, testLog) as BatchSink;
    const order: string[] = [];
    // Reach refuses the post that carries record 1 as 'C' (say a 5xx storm past the retries).
    const sink = withPost(real, async (page, send) => {
      const r = page.upserts.find((u) => u.externalId.startsWith('10'));
      if (r) order.push(JSON.parse(r.json).first_name);
      if (r && JSON.parse(r.json).first_name === 'C') throw new Error('Reach: 503 past every retry');
      return send();
    });
    const page = (names: Record<string, string>, second: number) => {
      const rows: SourceRow[] = Object.entries(names).map(([id, name]) => ({ id, name }));
      const positions: Position[] = rows.map((r) => ({ cursor: `2024-05-01T00:00:${String(second).padStart(2, '0')}.000000Z`, key: [String(r.id)] }));
      return { rows, positions };
    };
    const outcomes: string[] = [];
    for (const [i, delay] of [600, 900].entries()) {
      order.length = 0;
      const stop = new AbortController();
      const run = await startRun(store.db, { connectorId: connector.id, stream: 'people' }, 'pull', undefined, { signal: stop.signal });
      const outcome = await withPlannedStream(store.db, connector, 'people', undefined, async (plan) => {
        const pipeline = new DeliveryPipeline({ plan, store: store.db, sink, run, openRejections: { value: false } });
        const push = (names: Record<string, string>, second: number) => {
          const p = page(names, 10 * i + second);
          return pipeline.push(judgePage(plan, run.id, p.rows, p.positions), async () => {}, () => {});
        };
        // Record 1 changes A -> B -> C in three pages: B waits for A's send from the start, C from a moment later.
        const hot = `10${i}`;
        await push({ [hot]: 'A', [`20${i}`]: 'x' }, 1);
        await push({ [hot]: 'B' }, 2);
        // The moment A's send is settled (its claim gone), before B's waiter looks again, C is sent.
        await sleep(delay);
        while (!(await store.db.selectFrom('delivered').select('external_id').where('connector_id', '=', connector.id).where('external_id', '=', hot).executeTakeFirst())) await sleep(5);
        await push({ [hot]: 'C' }, 3);
        return Promise.race([pipeline.drain().then(() => 'committed', (e: unknown) => `failed ${String(e)}`), sleep(15_000).then(() => 'hung')]);
      });
      outcomes.push(`${order.map((n) => n[0]).join('')}:${outcome}`);
      stop.abort(new Error('test over'));
      await run.finish(outcome === 'committed' ? 'succeeded' : 'failed', ZERO_COUNTS).catch(() => undefined);
      await api.settled();
      await sleep(1_000);
    }
    // Whichever page claimed record 1 first, the run must come to an end.
    expect(outcomes.filter((o) => o.endsWith(':hung'))).toEqual([]);
  }, 240_000);
});
