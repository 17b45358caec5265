/**
 * What protects the partner and the puller during a run: a per-run row/byte ceiling stops
 * a run cleanly after a page (the next run continues), and a slow statement hits the
 * statement timeout as a retryable RP_SOURCE_TIMEOUT.
 */
import type { RunSummary } from '../../src/engine/run-stream.ts';
import { TransientError } from '../../src/errors.ts';
import type { RegisteredConnector } from '../../src/store/connector-registry.ts';
import { TEST_DIALECTS, type Partner } from '../helpers/partner.ts';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test, type Lab, type LabStore } from '../fixture.ts';

/** 25 rows in view `v_<name>`, and `v_slow_<name>` over the same rows that takes 3 s to answer. */
async function setUp(lab: Lab, partner: Partner): Promise<{ view: string; slow: string }> {
  const name = lab.unique('rl');
  const values = Array.from({ length: 25 }, (_, i) => `(${i + 1}, 'u${i + 1}@example.com', '2024-01-01 00:00:${String(i + 10)}')`);
  const { table, view } = await lab.view(partner, name, `id integer primary key, email ${partner.types.text}, updated_at ${partner.types.timestamp}`,
    `values ${values.join(', ')}`);
  const slow = `v_slow_${name}`;
  await partner.exec(partner.dialect === 'postgres'
    ? `create view ${slow} as select t.* from ${table} t cross join (select pg_sleep(3)) s`
    : `create view ${slow} as select t.* from ${table} t where sleep(3) = 0`);
  await partner.grantReadOnly();
  return { view, slow };
}

for (const dialect of TEST_DIALECTS) {
  describe(`run limits on ${dialect}`, () => {
    const connectorFor = (lab: Lab, store: LabStore, partner: Partner, view: string, streamExtra: string, sourceExtra = '') =>
      lab.connector(store, partner, { id: lab.unique('lim'), source: `settle_seconds: 0\n${sourceExtra}`, body: `streams:
  - name: s
    view: ${view}
    schema: contacts
    primary_key: [id]
    cursor: updated_at
    page_size: 5
${streamExtra}    fields: { id: id, email: email }
` });

    async function pull(lab: Lab, store: LabStore, connector: RegisteredConnector): Promise<RunSummary> {
      const [summary] = await lab.pull(store, connector);
      return summary!;
    }

    test('max_rows_per_run stops after the page that reaches it; the next runs continue to the end', async ({ lab }) => {
      const partner = await lab.partner(dialect);
      const store = await lab.store();
      const { view } = await setUp(lab, partner);
      const connector = await connectorFor(lab, store, partner, view, '    max_rows_per_run: 10\n');
      const runs = [await pull(lab, store, connector), await pull(lab, store, connector), await pull(lab, store, connector)];
      expect(runs.map((r) => [r.status, r.rowsRead, Boolean(r.warning)])).toEqual([
        ['succeeded', 10, true], ['succeeded', 10, true], ['succeeded', 5, false],
      ]);
      expect(runs[0]!.warning).toMatch(/max_rows_per_run \(10\)/);
      expect(runs[0]!.watermarkAfter!.key).toEqual(['10']);
      const rows = await partner.query<{ id: number; email: string }>(`select id, email from ${view} order by id`);
      expect(await readResources(store.db, connector.tenant, 'contacts')).toEqual(rows.map((r) => ({ id: String(r.id), email: r.email })));
    });

    test('max_bytes_per_run stops after the first page when one page exceeds it', async ({ lab }) => {
      const partner = await lab.partner(dialect);
      const store = await lab.store();
      const { view } = await setUp(lab, partner);
      const connector = await connectorFor(lab, store, partner, view, '    max_bytes_per_run: 1\n');
      const first = await pull(lab, store, connector);
      expect([first.status, first.rowsRead]).toEqual(['succeeded', 5]);
      expect(first.warning).toMatch(/max_bytes_per_run \(1\)/);
    });

    test('a statement slower than statement_timeout_seconds is ended by the partner server: the run fails as a retryable RP_SOURCE_TIMEOUT', async ({ lab }) => {
      const partner = await lab.partner(dialect);
      const store = await lab.store();
      const { slow } = await setUp(lab, partner);
      const connector = await connectorFor(lab, store, partner, slow, '', 'statement_timeout_seconds: 1\n');
      const run = await pull(lab, store, connector);
      expect(run.status).toBe('failed');
      expect(run.error).toBeInstanceOf(TransientError);
      expect((run.error as TransientError).code).toBe('RP_SOURCE_TIMEOUT');
      // The partner's server ended the statement (not the puller's answer deadline, 15 s later, which closes the connection).
      expect((run.error as TransientError).cause).toMatchObject(dialect === 'postgres' ? { code: '57014' } : { errno: 1969 });
    });
  });
}
