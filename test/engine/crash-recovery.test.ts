/**
 * A run that dies between pages, or whose sink fails, leaves the watermark at the last page
 * the sink confirmed; the next run continues from there and the store ends equal to the view.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { pullConnector } from '../../src/engine/pull-connector.ts';
import { runStream } from '../../src/engine/run-stream.ts';
import { openSource } from '../../src/sources/source-pools.ts';
import { connectionSettings } from '../../src/engine/connector-runtime.ts';
import { StoreSink } from '../../src/sinks/store/store-sink.ts';
import type { SinkPage, TransactionalSink } from '../../src/sinks/sink.ts';
import type { Transaction } from 'kysely';
import type { StoreSchema } from '../../src/store/schema.ts';
import { loadWatermark } from '../../src/store/delivery-state.ts';
import { loadSchemaCatalog } from '../../src/store/schema-registry.ts';
import type { Store } from '../../src/store/open-store.ts';
import { freshPartner, type Partner } from '../helpers/partner.ts';
import { freshStore, registerYaml } from '../helpers/store.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { readResources } from '../helpers/resources.ts';
import { PG_URL } from '../helpers/databases.ts';

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
  let partner: Partner;
  let store: Store;

  beforeAll(async () => {
    partner = await freshPartner('postgres', 'rp_crash_partner');
    store = await freshStore('rp_crash_store');
    await partner.exec(
      'create table people (id bigint primary key, name text, updated_at timestamptz not null)',
      'create view people_v as select * from people',
      `insert into people select g, 'p' || g, timestamptz '2024-05-01 00:00:00+00' + (g / 3) * interval '1 second' from generate_series(1, 1000) g`,
    );
    await partner.grantReadOnly();
  });
  afterAll(async () => {
    await store?.close();
  });

  const yaml = (id: string, pageSize = 100) => `
tenant: ${id}
${partner.sourceYaml('  settle_seconds: 0')}
streams:
  - { name: people, view: people_v, schema: contacts, primary_key: [id], cursor: updated_at, page_size: ${pageSize},
      fields: { id: id, first_name: name } }
`;

  async function expected() {
    const rows = await partner.query<{ id: string; name: string }>('select id, name from people_v order by id');
    return rows.map((r) => ({ id: String(r.id), first_name: r.name }));
  }

  it('keeps the watermark at the last confirmed page when the sink fails mid-run, and the re-run completes', async () => {
    const connector = await registerYaml(store, 'crash-a', yaml('crash-a'));
    const source = openSource(await connectionSettings(connector.config));
    const schemas = await loadSchemaCatalog(store.db);
    try {
      const dying = new DyingSink(new StoreSink(), 4);
      const failed = await runStream({ connector, stream: connector.config.streams[0]!, schemas, source, sink: dying, store: store.db, log: testLog });
      expect(failed.status).toBe('failed');
      expect(failed.rowsRead).toBe(300);
      const watermark = await loadWatermark(store.db, { connectorId: 'crash-a', stream: 'people' });
      // Page 3 ended at id 300, whose cursor is 00:01:40.
      expect(watermark).toEqual({ cursor: '2024-05-01T00:01:40.000000Z', key: ['300'] });
      expect((await readResources(store.db, 'crash-a', 'contacts')).length).toBe(300);
    } finally {
      await source.close();
    }
    const [rerun] = await pullConnector({ store: store.db, connector, log: testLog });
    expect(rerun!.rowsRead).toBe(700);
    expect(await readResources(store.db, 'crash-a', 'contacts')).toEqual(await expected());
  });

  it('survives kill -9 of a pull between pages: the re-run delivers the rest and re-sends nothing already committed', async () => {
    const storeUrl = `${PG_URL.replace(/\/[^/]*$/, '')}/rp_crash_store`;
    const connector = await registerYaml(store, 'crash-b', yaml('crash-b', 10));
    const env = { ...process.env, DATABASE_URL: storeUrl, LOG_LEVEL: 'debug', RP_TEST_RO_PASSWORD: process.env.RP_TEST_RO_PASSWORD };
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'pull', connector.id], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    // Kill it as soon as it has confirmed a few pages (it logs each confirmed page at debug).
    let confirmed = 0;
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (chunk: Buffer) => {
        confirmed += chunk.toString().split('page confirmed').length - 1;
        if (confirmed >= 3 && child.exitCode === null && !child.killed) {
          child.kill('SIGKILL');
        }
      });
      child.on('exit', () => resolve());
    });
    expect(child.signalCode).toBe('SIGKILL');
    const before = await loadWatermark(store.db, { connectorId: 'crash-b', stream: 'people' });
    expect(before).toBeDefined();
    const deliveredBefore = (await readResources(store.db, 'crash-b', 'contacts')).length;
    expect(deliveredBefore).toBeLessThan(1000);
    // The killed run left a `running` row, but its hold ended with its process: the next pull starts at once.
    const [rerun] = await pullConnector({ store: store.db, connector, log: testLog });
    expect(rerun!.status).toBe('succeeded');
    // Exactly-once into the store: the re-run reads from the last committed page on.
    expect(rerun!.rowsRead).toBe(1000 - Number(before!.key[0]));
    expect(await readResources(store.db, 'crash-b', 'contacts')).toEqual(await expected());
    const abandoned = await store.db.selectFrom('runs').select(['status', 'error_code'])
      .where('connector_id', '=', 'crash-b').orderBy('id').executeTakeFirstOrThrow();
    expect(abandoned).toEqual({ status: 'failed', error_code: 'RP_RUN_ABANDONED' });
  });
});
