/**
 * What protects the partner and the puller during a run: a per-run row/byte ceiling stops
 * a run cleanly after a page (the next run continues), and a slow statement hits the
 * statement timeout as a retryable RP_SOURCE_TIMEOUT.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pullConnector } from '../../src/engine/pull-connector.ts';
import type { RunSummary } from '../../src/engine/run-stream.ts';
import { TransientError } from '../../src/errors.ts';
import type { RegisteredConnector } from '../../src/store/connector-registry.ts';
import type { Store } from '../../src/store/open-store.ts';
import { freshPartner, TEST_DIALECTS, type Partner } from '../helpers/partner.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { readResources } from '../helpers/resources.ts';
import { freshStore, registerYaml } from '../helpers/store.ts';

for (const dialect of TEST_DIALECTS) {
  describe(`run limits on ${dialect}`, () => {
    let partner: Partner;
    let store: Store;

    beforeAll(async () => {
      partner = await freshPartner(dialect, `rp_sec_limits_${dialect}`);
      store = await freshStore(`rp_sec_limits_store_${dialect}`);
      const values = Array.from({ length: 25 }, (_, i) => `(${i + 1}, 'u${i + 1}@example.com', '2024-01-01 00:00:${String(i + 10)}')`);
      await partner.exec(
        `create table t (id integer primary key, email ${partner.types.text}, updated_at ${partner.types.timestamp})`,
        `insert into t values ${values.join(', ')}`,
        'create view v as select id, email, updated_at from t',
        dialect === 'postgres'
          ? 'create view v_slow as select t.* from t cross join (select pg_sleep(3)) s'
          : 'create view v_slow as select t.* from t where sleep(3) = 0',
      );
      await partner.grantReadOnly();
    });
    afterAll(async () => {
      await store?.close();
    });

    const connectorFor = (id: string, view: string, streamExtra: string, sourceExtra = '') => registerYaml(store, id, `tenant: tenant-${id}
${partner.sourceYaml(`  settle_seconds: 0\n${sourceExtra}`)}streams:
  - name: s
    view: ${view}
    schema: contacts
    primary_key: [id]
    cursor: updated_at
    page_size: 5
${streamExtra}    fields: { id: id, email: email }
`);

    async function pull(connector: RegisteredConnector): Promise<RunSummary> {
      const [summary] = await pullConnector({ store: store.db, connector, log: testLog });
      return summary!;
    }

    it('max_rows_per_run stops after the page that reaches it; the next runs continue to the end', async () => {
      const connector = await connectorFor('rows', 'v', '    max_rows_per_run: 10\n');
      const runs = [await pull(connector), await pull(connector), await pull(connector)];
      expect(runs.map((r) => [r.status, r.rowsRead, Boolean(r.warning)])).toEqual([
        ['succeeded', 10, true], ['succeeded', 10, true], ['succeeded', 5, false],
      ]);
      expect(runs[0]!.warning).toMatch(/max_rows_per_run \(10\)/);
      expect(runs[0]!.watermarkAfter!.key).toEqual(['10']);
      const rows = await partner.query<{ id: number; email: string }>('select id, email from v order by id');
      expect(await readResources(store.db, 'tenant-rows', 'contacts')).toEqual(rows.map((r) => ({ id: String(r.id), email: r.email })));
    });

    it('max_bytes_per_run stops after the first page when one page exceeds it', async () => {
      const connector = await connectorFor('bytes', 'v', '    max_bytes_per_run: 1\n');
      const first = await pull(connector);
      expect([first.status, first.rowsRead]).toEqual(['succeeded', 5]);
      expect(first.warning).toMatch(/max_bytes_per_run \(1\)/);
    });

    it('a statement slower than statement_timeout_seconds fails the run as a retryable RP_SOURCE_TIMEOUT', async () => {
      const connector = await connectorFor('slow', 'v_slow', '', '  statement_timeout_seconds: 1\n');
      const run = await pull(connector);
      expect(run.status).toBe('failed');
      expect(run.error).toBeInstanceOf(TransientError);
      expect((run.error as TransientError).code).toBe('RP_SOURCE_TIMEOUT');
    });
  });
}
