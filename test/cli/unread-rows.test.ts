/**
 * Rows a pull counts and cannot read, as an operator meets them: a writer stamping wall-clock
 * cursors in another zone than the connector names (rows 3 hours ahead of the partner clock),
 * and a nullable key column with NULLs in it. The counts, with their hints, show in `pull`
 * (table and --json), `test --json`, `runs`, `status` and /metrics; a stream `timezone` naming
 * the zone the rows were really stamped in counts none ahead and reads them once settled.
 */
import { BackgroundBackfills } from '../../src/backfill/background-backfills.ts';
import { NULL_CURSOR_HINT, NULL_KEY_HINT } from '../../src/cli/unread-rows.ts';
import { FUTURE_CURSOR_HINT } from '../../src/engine/watermark.ts';
import { Scheduler } from '../../src/scheduler/scheduler.ts';
import { buildOpsApi } from '../../src/server/ops-api.ts';
import { PullerMetrics } from '../../src/server/puller-metrics.ts';
import { TEST_DIALECTS, type Partner } from '../helpers/partner.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { readResources } from '../helpers/resources.ts';
import { describe, expect, test, type CliResult, type Lab, type LabStore } from '../fixture.ts';

const OPS_TOKEN = 'unread-rows-ops-token-3c9a';

/** Wall time of an instant in a zone, `YYYY-MM-DD HH:MM:SS.mmm000`, without the process zone. */
function wallTime(ms: number, timeZone: string): string {
  const p = Object.fromEntries(new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}.${String(ms % 1000).padStart(3, '0')}000`;
}

/** The rows of a printed table, keyed by its (lower-cased) header; columns are at least two spaces apart. */
function tableRows(stdout: string): Record<string, string>[] {
  const [header, ...lines] = stdout.trimEnd().split('\n');
  const names = header!.split(/\s{2,}/).map((h) => h.toLowerCase());
  return lines.map((line) => Object.fromEntries(line.split(/\s{2,}/).map((v, i) => [names[i], v])));
}

/** The output of a CLI run that must succeed, as JSON. */
function json(result: CliResult): any {
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout);
}

/** /metrics as the ops API serves it (gauges read from the store at the scrape). */
async function scrape(store: LabStore): Promise<string> {
  const app = buildOpsApi({
    db: store.db, scheduler: new Scheduler({ db: store.db, log: testLog }), metrics: new PullerMetrics(),
    backfills: new BackgroundBackfills({ store: store.db, log: testLog }), token: OPS_TOKEN, log: testLog,
  });
  try {
    const res = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${OPS_TOKEN}` } });
    expect(res.statusCode).toBe(200);
    return res.body;
  } finally {
    await app.close();
  }
}

for (const dialect of TEST_DIALECTS) {
  describe(`rows a pull cannot read, on ${dialect}`, () => {
    const local = dialect === 'postgres' ? 'timestamp(6)' : 'datetime(6)';
    const zone = dialect === 'postgres' ? '+00' : '';

    /**
     * A view with a wall-clock cursor: rows 1-5 from 2024, rows 6-8 stamped now by a writer
     * in Moscow (UTC+3 all year), so read as UTC they are 3 hours ahead of the partner clock.
     */
    async function moscowWriterView(lab: Lab, partner: Partner, name: string): Promise<{ view: string; stampedAt: number }> {
      const stampedAt = Date.now();
      const moscow = wallTime(stampedAt, 'Europe/Moscow');
      const rows = [1, 2, 3, 4, 5].map((i) => `(${i}, 'u${i}@x.io', '2024-05-01 10:00:0${i}')`)
        .concat([6, 7, 8].map((i) => `(${i}, 'u${i}@x.io', '${moscow}')`));
      const { view } = await lab.view(partner, name, `id ${partner.types.bigint} primary key, email ${partner.types.text}, updated_local ${local} not null`,
        `(id, email, updated_local) values ${rows.join(', ')}`);
      return { view, stampedAt };
    }

    function streamYaml(view: string, cursor: string, extra = ''): string {
      return `streams:
  - { name: s, view: ${view}, schema: contacts, primary_key: [id], cursor: ${cursor}, fields: { id: id, email: email }${extra} }
`;
    }

    test('rows stamped 3 hours ahead are counted in pull, pull --json, test, runs, status and metrics, with the hint', { timeout: 180_000 }, async ({ lab }) => {
      const partner = await lab.partner(dialect);
      const store = await lab.store();
      const { view } = await moscowWriterView(lab, partner, lab.unique('ahead'));
      const id = lab.unique('utc');
      await lab.connector(store, partner, { id, source: 'timezone: UTC\nsettle_seconds: 2', body: streamYaml(view, 'updated_local') });
      const env = { DATABASE_URL: store.url };
      const warning = `warning: s: future_cursor 3: ${FUTURE_CURSOR_HINT}\n`;

      const table = await lab.cli(['pull', id], { env });
      expect(table.code, table.stderr).toBe(0);
      expect(tableRows(table.stdout)).toMatchObject([
        { stream: 's', status: 'succeeded', read: '5', sent: '5', null_cursor: '0', null_key: '0', future_cursor: '3', pages: '1' },
      ]);
      expect(table.stderr).toContain(warning);
      expect(table.stderr).not.toContain('null_key ');

      // The rows ahead still wait: the next run reads nothing and counts them again.
      const [second] = json(await lab.cli(['pull', id, '--json'], { env }));
      expect(second).toMatchObject({ stream: 's', status: 'succeeded', read: 0, null_cursor: 0, null_key: 0, future_cursor: 3 });

      const [report, runs, runsTable, status, statusTable] = await Promise.all([
        lab.cli(['test', id, '--json'], { env }),
        lab.cli(['runs', id, '--json'], { env }),
        lab.cli(['runs', id], { env }),
        lab.cli(['status', '--connector', id, '--json'], { env }),
        lab.cli(['status', '--connector', id], { env }),
      ]);
      // A warning for `test`, not a failure.
      expect(json(report).streams).toEqual([expect.objectContaining({
        stream: 's', ok: true, cursorKind: 'local',
        unread: { nullCursor: 0, nullKey: 0, futureCursor: 3 },
        warnings: [`future_cursor 3: ${FUTURE_CURSOR_HINT}`],
      })]);

      const history = json(runs).items;
      expect(history).toMatchObject([
        { kind: 'pull', status: 'succeeded', read: 0, nullCursor: 0, nullKey: 0, futureCursor: 3 },
        { kind: 'pull', status: 'succeeded', read: 5, nullCursor: 0, nullKey: 0, futureCursor: 3 },
      ]);
      expect(runsTable.code).toBe(0);
      expect(tableRows(runsTable.stdout).map((r) => [r.read, r.null_key, r.future_cursor])).toEqual([['0', '0', '3'], ['5', '0', '3']]);
      expect(runsTable.stderr).toContain(`warning: s (run ${history[0].id}): future_cursor 3: ${FUTURE_CURSOR_HINT}\n`);

      expect(json(status)).toMatchObject([{ connector: id, stream: 's', state: 'ok', unread: { runId: history[0].id, nullCursor: 0, nullKey: 0, futureCursor: 3 } }]);
      expect(statusTable.code).toBe(0);
      expect(tableRows(statusTable.stdout)).toMatchObject([{ connector: id, stream: 's', null_key: '0', future_cursor: '3' }]);
      expect(statusTable.stderr).toContain(`warning: ${id}/s (run ${history[0].id}): future_cursor 3: ${FUTURE_CURSOR_HINT}\n`);

      const metrics = await scrape(store);
      const labels = `{tenant="${id}",connector="${id}",stream="s"}`;
      expect(metrics).toContain(`reach_puller_rows_future_cursor${labels} 3\n`);
      expect(metrics).toContain(`reach_puller_rows_null_key${labels} 0\n`);
      expect(metrics).toContain(`reach_puller_rows_null_cursor${labels} 0\n`);

      expect((await readResources(store.db, id, 'contacts')).map((r) => r.id)).toEqual(['1', '2', '3', '4', '5']);
    });

    test('a stream timezone naming the zone the rows were stamped in counts none ahead, and reads them once settled', async ({ lab }) => {
      const partner = await lab.partner(dialect);
      const store = await lab.store();
      const settle = 5;
      const moscowId = lab.unique('msk');
      const utcId = lab.unique('utc');
      // Both on the same view; the source says UTC, one stream says Moscow. The view is made after
      // the connectors are registered, so the first pull comes well within the settle window.
      const name = lab.unique('ahead');
      const source = `timezone: UTC\nsettle_seconds: ${settle}`;
      const moscow = await lab.connector(store, partner, { id: moscowId, source, body: streamYaml(`v_${name}`, 'updated_local', ', timezone: Europe/Moscow') });
      const utc = await lab.connector(store, partner, { id: utcId, source, body: streamYaml(`v_${name}`, 'updated_local') });
      const { stampedAt } = await moscowWriterView(lab, partner, name);

      const [first] = await lab.pull(store, moscow);
      expect(Date.now() - stampedAt, 'the first pull must come within the settle window').toBeLessThan(settle * 1000);
      expect(first).toMatchObject({ status: 'succeeded', rowsRead: 5, rowsFutureCursor: 0, rowsNullKey: 0, rowsNullCursor: 0 });
      const [asUtc] = await lab.pull(store, utc);
      expect(asUtc).toMatchObject({ status: 'succeeded', rowsRead: 5, rowsFutureCursor: 3 });

      await new Promise((r) => setTimeout(r, stampedAt + settle * 1000 + 500 - Date.now()));
      const [settled] = await lab.pull(store, moscow);
      expect(settled).toMatchObject({ status: 'succeeded', rowsRead: 3, rowsFutureCursor: 0 });
      expect((await readResources(store.db, moscowId, 'contacts')).map((r) => r.id)).toEqual(['1', '2', '3', '4', '5', '6', '7', '8']);
      const [again] = await lab.pull(store, utc);
      expect(again).toMatchObject({ rowsRead: 0, rowsFutureCursor: 3 });
    });

    test('rows with a NULL key column are counted as null_key and the other rows delivered', { timeout: 120_000 }, async ({ lab }) => {
      const partner = await lab.partner(dialect);
      const store = await lab.store();
      const name = lab.unique('nullkey');
      const t = partner.types;
      const at = (s: number) => `'2024-05-01 10:00:0${s}${zone}'`;
      const { view } = await lab.view(partner, name, `id ${t.bigint}, email ${t.text}, updated_at ${t.timestamp}`,
        `(id, email, updated_at) values (1, 'a@x.io', ${at(1)}), (null, 'n1@x.io', ${at(2)}), (2, 'b@x.io', ${at(3)}),
          (null, 'n2@x.io', ${at(4)}), (3, 'c@x.io', ${at(5)}), (4, 'd@x.io', ${at(6)}), (5, 'no-cursor@x.io', null)`);
      const id = lab.unique('nk');
      await lab.connector(store, partner, { id, source: 'settle_seconds: 0', body: streamYaml(view, 'updated_at') });
      const env = { DATABASE_URL: store.url };

      const pull = await lab.cli(['pull', id, '--json'], { env });
      expect(json(pull)).toMatchObject([{ stream: 's', status: 'succeeded', read: 4, sent: 4, null_cursor: 1, null_key: 2, future_cursor: 0 }]);
      expect(pull.stderr).toContain(`warning: s: null_key 2: ${NULL_KEY_HINT}\n`);
      expect(pull.stderr).toContain(`warning: s: null_cursor 1: ${NULL_CURSOR_HINT}\n`);
      expect(pull.stderr).not.toContain('future_cursor');
      expect(await readResources(store.db, id, 'contacts')).toEqual([
        { id: '1', email: 'a@x.io' }, { id: '2', email: 'b@x.io' }, { id: '3', email: 'c@x.io' }, { id: '4', email: 'd@x.io' },
      ]);

      const [report, runs, status] = await Promise.all([
        lab.cli(['test', id, '--json'], { env }),
        lab.cli(['runs', id, '--json'], { env }),
        lab.cli(['status', '--connector', id, '--json'], { env }),
      ]);
      expect(json(report).streams).toEqual([expect.objectContaining({
        ok: true, unread: { nullCursor: 1, nullKey: 2, futureCursor: 0 },
        warnings: [`null_key 2: ${NULL_KEY_HINT}`, `null_cursor 1: ${NULL_CURSOR_HINT}`],
      })]);
      const history = json(runs).items;
      expect(history).toMatchObject([{ read: 4, nullCursor: 1, nullKey: 2, futureCursor: 0 }]);
      expect(json(status)).toMatchObject([{ stream: 's', unread: { runId: history[0].id, nullCursor: 1, nullKey: 2, futureCursor: 0 } }]);
      const metrics = await scrape(store);
      const labels = `{tenant="${id}",connector="${id}",stream="s"}`;
      expect(metrics).toContain(`reach_puller_rows_null_key${labels} 2\n`);
      expect(metrics).toContain(`reach_puller_rows_null_cursor${labels} 1\n`);
      expect(metrics).toContain(`reach_puller_rows_future_cursor${labels} 0\n`);
    });
  });
}
