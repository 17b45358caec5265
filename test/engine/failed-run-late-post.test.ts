/**
 * Found in review (a7d93df, 2fd8448): a run whose page fails to post ends at once, while a
 * later page of it is still posting. The pipeline commits pages in order, so the later page's
 * commit is never awaited once the earlier one failed: `drain` returns, the run is recorded
 * as ended, and the later page's post goes on (its retries may start until the run's send
 * deadline, though the run is over). The next run of the stream settles that send as its
 * dead run's (a send of an ended run waits only the request grace) and sends the record's
 * newer value; the old post then reaches Reach, which applies batches in any order: the
 * record goes back to its older value.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createSink, reachTarget, storeRuntime } from '../../src/engine/connector-runtime.ts';
import { DeliveryPipeline } from '../../src/engine/page-delivery.ts';
import { judgePage } from '../../src/engine/page-judgement.ts';
import { RUN_TIMING, startRun, ZERO_COUNTS } from '../../src/store/run-records.ts';
import { withPlannedStream } from '../../src/engine/planned-stream.ts';
import type { Position, SourceRow } from '../../src/interfaces.ts';
import type { BatchSink } from '../../src/sinks/sink.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { withPost } from '../helpers/wrapped-sink.ts';
import { describe, expect, test } from '../fixture.ts';

// Short timings, as the concurrency property test uses: a send deadline well past the grace.
Object.assign(RUN_TIMING, { heartbeatMs: 200, sendDeadlineMs: 10_000, requestGraceMs: 400 });

describe('delivery pipeline: a failed run\'s later page still posting', () => {
  test('the next run\'s newer value of a record stays in Reach after a failed run ended', async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const api = await lab.reachApi({ processingDelayMs: 100 });
    const { view } = await lab.view(partner, 'late', 'id bigint primary key, name text, updated_at timestamptz not null');
    const connector = await lab.connector(store, partner, { id: 'late', source: 'settle_seconds: 0', reach: api, body: `streams:
  - { name: people, view: ${view}, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: id, first_name: name } }
` });
    const target = await reachTarget(connector.config, storeRuntime(store.db));
    const real = createSink(target, testLog) as BatchSink;
    let releaseSlowPost!: () => void;
    const slowPostReleased = new Promise<void>((r) => { releaseSlowPost = r; });
    const sink = withPost(real, async (page, send) => {
      const names = page.upserts.map((u) => JSON.parse(u.json).first_name as string);
      // Run 1's first page: Reach refuses it (a 413, a 5xx storm past the retries).
      if (names.includes('refused')) { await sleep(300); throw new Error('Reach: 503 past every retry'); }
      // Run 1's second page: its post is slow (Reach answering 503, the client retrying).
      if (names.includes('A')) await slowPostReleased;
      return send();
    });
    const page = (names: Record<string, string>, second: number) => {
      const rows: SourceRow[] = Object.entries(names).map(([id, name]) => ({ id, name }));
      const positions: Position[] = rows.map((r) => ({ cursor: `2024-05-01T00:00:${String(second).padStart(2, '0')}.000000Z`, key: [String(r.id)] }));
      return { rows, positions };
    };
    const pull = async (pages: [Record<string, string>, number][]) => {
      const run = await startRun(store.db, { connectorId: connector.id, stream: 'people' }, 'pull', undefined);
      const outcome = await withPlannedStream(store.db, connector, 'people', undefined, async (plan) => {
        const pipeline = new DeliveryPipeline({ plan, store: store.db, sink, run, openRejections: { value: false } });
        try {
          for (const [names, second] of pages) {
            const p = page(names, second);
            await pipeline.push(judgePage(plan, run.id, p.rows, p.positions), async () => {}, () => {});
          }
          await pipeline.drain();
          return 'succeeded';
        } catch (error) {
          // deliverRange's finally: the pages still committing end before the outcome is recorded.
          await pipeline.drain().catch(() => undefined);
          return `failed: ${String(error)}`;
        }
      });
      await run.finish(outcome === 'succeeded' ? 'succeeded' : 'failed', ZERO_COUNTS);
      return outcome;
    };
    // Run 1: record 7 is 'A' in its second page; its first page is refused. The run fails.
    expect(await pull([[{ 1: 'refused' }, 1], [{ 7: 'A' }, 2]])).toMatch(/^failed/);
    // Run 2 (the scheduler's retry, the next tick) reads record 7 changed to 'B' and delivers it.
    expect(await pull([[{ 7: 'B' }, 3]])).toBe('succeeded');
    expect(api.resources(connector.config.tenant, 'contacts').get('7')?.first_name).toBe('B');
    // Run 1's post of its second page gets through at last.
    releaseSlowPost();
    await sleep(1_000);
    await api.settled();
    // The partner row says 'B': so must Reach.
    expect(api.resources(connector.config.tenant, 'contacts').get('7')?.first_name).toBe('B');
  }, 120_000);
});
