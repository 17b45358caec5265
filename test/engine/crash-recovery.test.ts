/**
 * A run that dies between pages, or whose sink fails, leaves the watermark at the last page
 * the sink confirmed; the next run continues from there and the store ends equal to the view.
 */
import { runStream } from '../../src/engine/run-stream.ts';
import { openSource } from '../../src/sources/source-pools.ts';
import { connectionSettings } from '../../src/engine/connector-runtime.ts';
import { StoreSink } from '../../src/sinks/store/store-sink.ts';
import type { RegisteredConnector } from '../../src/store/connector-registry.ts';
import type { SinkPage, TransactionalSink } from '../../src/sinks/sink.ts';
import type { Transaction } from 'kysely';
import type { StoreSchema } from '../../src/store/schema.ts';
import { loadWatermark } from '../../src/store/delivery-state.ts';
import { loadSchemaCatalog } from '../../src/store/schema-registry.ts';
import type { Partner } from '../helpers/partner.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test, type Lab, type LabStore } from '../fixture.ts';

/** A store sink that dies on its n-th page, before anything of that page commits. */
class DyingSink implements TransactionalSink {
  readonly kind = 'store' as const;
  readonly target = 'store';
  pages = 0;
  constructor(private readonly inner: StoreSink, private readonly dieOnPage: number) {}
  async write(trx: Transaction<StoreSchema>, page: SinkPage): Promise<number> {
    if (++this.pages === this.dieOnPage) throw new Error('sink connection lost');
    return this.inner.write(trx, page);
  }
  async close(): Promise<void> {}
}

describe('crash and retry recovery', () => {
  /** 1000 people, three to a second, and a connector reading them into `store` with pages of `pageSize`. */
  async function setUp(lab: Lab, pageSize: number): Promise<{ partner: Partner; store: LabStore; connector: RegisteredConnector; view: string }> {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const name = lab.unique('people');
    const { view } = await lab.view(partner, name, 'id bigint primary key, name text, updated_at timestamptz not null',
      `select g, 'p' || g, timestamptz '2024-05-01 00:00:00+00' + (g / 3) * interval '1 second' from generate_series(1, 1000) g`);
    const connector = await lab.connector(store, partner, { id: lab.unique('crash'), source: 'settle_seconds: 0', body: `streams:
  - { name: people, view: ${view}, schema: contacts, primary_key: [id], cursor: updated_at, page_size: ${pageSize},
      fields: { id: id, first_name: name } }
` });
    return { partner, store, connector, view };
  }

  async function expected(partner: Partner, view: string) {
    const rows = await partner.query<{ id: string; name: string }>(`select id, name from ${view} order by id`);
    return rows.map((r) => ({ id: String(r.id), first_name: r.name }));
  }

  test('keeps the watermark at the last confirmed page when the sink fails mid-run, and the re-run completes', async ({ lab }) => {
    const { partner, store, connector, view } = await setUp(lab, 100);
    const source = openSource(await connectionSettings(connector.config));
    const schemas = await loadSchemaCatalog(store.db);
    try {
      const dying = new DyingSink(new StoreSink(), 4);
      const failed = await runStream({ connector, stream: connector.config.streams[0]!, schemas, source, sink: dying, store: store.db, log: testLog });
      expect(failed.status).toBe('failed');
      expect(failed.rowsRead).toBe(300);
      const watermark = await loadWatermark(store.db, { connectorId: connector.id, stream: 'people' });
      // Page 3 ended at id 300, whose cursor is 00:01:40.
      expect(watermark).toEqual({ cursor: '2024-05-01T00:01:40.000000Z', key: ['300'] });
      expect((await readResources(store.db, connector.tenant, 'contacts')).length).toBe(300);
    } finally {
      await source.close();
    }
    const [rerun] = await lab.pull(store, connector);
    expect(rerun!.rowsRead).toBe(700);
    expect(await readResources(store.db, connector.tenant, 'contacts')).toEqual(await expected(partner, view));
  });

  test('survives kill -9 of a pull between pages: the re-run delivers the rest and re-sends nothing already committed', async ({ lab }) => {
    const { partner, store, connector, view } = await setUp(lab, 10);
    const { child, result } = lab.spawnCli(['pull', connector.id], { env: { DATABASE_URL: store.url, LOG_LEVEL: 'debug' } });
    // Kill it as soon as it has confirmed a few pages (it logs each confirmed page at debug).
    let confirmed = 0;
    child.stderr!.on('data', (chunk: Buffer) => {
      confirmed += chunk.toString().split('page confirmed').length - 1;
      if (confirmed >= 3 && child.exitCode === null && !child.killed) child.kill('SIGKILL');
    });
    expect((await result).signal).toBe('SIGKILL');
    const before = await loadWatermark(store.db, { connectorId: connector.id, stream: 'people' });
    expect(before).toBeDefined();
    const deliveredBefore = (await readResources(store.db, connector.tenant, 'contacts')).length;
    expect(deliveredBefore).toBeLessThan(1000);
    // The killed run left a `running` row, but its hold ended with its process: the next pull starts at once.
    const [rerun] = await lab.pull(store, connector);
    expect(rerun!.status).toBe('succeeded');
    // Exactly-once into the store: the re-run reads from the last committed page on.
    expect(rerun!.rowsRead).toBe(1000 - Number(before!.key[0]));
    expect(await readResources(store.db, connector.tenant, 'contacts')).toEqual(await expected(partner, view));
    const abandoned = await store.db.selectFrom('runs').select(['status', 'error_code'])
      .where('connector_id', '=', connector.id).orderBy('id').executeTakeFirstOrThrow();
    expect(abandoned).toEqual({ status: 'failed', error_code: 'RP_RUN_ABANDONED' });
  });
});
