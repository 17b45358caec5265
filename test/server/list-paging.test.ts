/**
 * Every list pages by keyset (issue 15, item 7): `runs`, `rejects` and `backfill list`, on
 * the CLI and the ops API. Paging through returns every row exactly once in the list's
 * order, the last page has no `next`, rows written between pages neither repeat nor shift
 * one, and a bad limit or cursor is refused naming the parameter.
 */
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { BackgroundBackfills } from '../../src/backfill/background-backfills.ts';
import { Scheduler } from '../../src/scheduler/scheduler.ts';
import { buildOpsApi } from '../../src/server/ops-api.ts';
import { PullerMetrics } from '../../src/server/puller-metrics.ts';
import { describe, expect, test, type Lab, type LabStore } from '../fixture.ts';
import { testLog } from '../helpers/quiet-log.ts';

const TOKEN = 'paging-token-7c2e';
// Three pages of 3, then 1: N+1 rows past a page boundary.
const ROWS = 10;

interface Seeded {
  store: LabStore;
  id: string;
  runs: string[];
  rejects: string[];
  backfills: string[];
}

/** A connector with two streams, and ROWS runs, open rejects and backfills, written directly. */
async function seed(lab: Lab): Promise<Seeded> {
  const store = await lab.store('paging');
  const partner = await lab.partner('postgres');
  const id = lab.unique('pg');
  const stream = (name: string) => `  - { name: ${name}, view: v_${name}, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: id } }`;
  await lab.connector(store, partner, { id, body: `streams:\n${stream('a')}\n${stream('b')}\n` });
  const db = store.db;
  for (let i = 0; i < ROWS; i++) {
    // Streams interleaved, so the rejects' order (stream, id) differs from id order.
    const s = i % 2 === 0 ? 'b' : 'a';
    await db.insertInto('runs').values({ connector_id: id, stream: s, kind: 'pull', status: 'succeeded' }).execute();
    await db.insertInto('rejected_records').values({
      tenant_id: id, connector_id: id, stream: s, external_id: `x${i}`, source_key: JSON.stringify([String(i)]),
      fields: JSON.stringify(['email']), reason: 'invalid email',
    }).execute();
    await db.insertInto('backfills').values({ connector_id: id, stream: s, status: 'succeeded', checkpoint_rows: 100 }).execute();
  }
  // A resolved entry: only `--all` lists it.
  await db.insertInto('rejected_records').values({
    tenant_id: id, connector_id: id, stream: 'a', external_id: 'resolved', source_key: JSON.stringify(['r']),
    fields: JSON.stringify(['email']), reason: 'invalid email', resolved_at: new Date(),
  }).execute();
  const ids = async (q: string) => (await sql<{ id: string }>`${sql.raw(q)}`.execute(db)).rows.map((r) => String(r.id));
  return {
    store, id,
    runs: await ids(`select id from runs where connector_id = '${id}' order by id desc`),
    rejects: await ids(`select id from rejected_records where connector_id = '${id}' and resolved_at is null order by stream, id`),
    backfills: await ids(`select id from backfills order by id desc`),
  };
}

/** Follows `next` until the last page; every page but the last is full. */
async function follow(fetchPage: (cursor?: string) => Promise<{ items: { id: string }[]; next?: string }>, limit: number): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (let pages = 1; pages <= 50; pages++) {
    const page = await fetchPage(cursor);
    ids.push(...page.items.map((r) => String(r.id)));
    if (page.next === undefined) return { ids, pages };
    expect(page.items).toHaveLength(limit);
    cursor = page.next;
  }
  throw new Error('no last page after 50 pages');
}

describe('list paging', () => {
  test('ops API: runs, rejects and backfills page through every row once; bad parameters are named', async ({ lab }) => {
    const seeded = await seed(lab);
    const { store, id } = seeded;
    const backfills = new BackgroundBackfills({ store: store.db, log: testLog });
    const app: FastifyInstance = buildOpsApi({
      db: store.db, scheduler: new Scheduler({ db: store.db, log: testLog }), metrics: new PullerMetrics(), backfills, token: TOKEN, log: testLog,
    });
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const call = async (path: string) => {
      const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      return { status: res.status, body: (await res.json()) as any };
    };
    const pager = (path: string, limit: number) => async (cursor?: string) => {
      const sep = path.includes('?') ? '&' : '?';
      const res = await call(`${path}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res.body;
    };
    try {
      expect(await follow(pager(`/connectors/${id}/runs`, 3), 3)).toEqual({ ids: seeded.runs, pages: 4 });
      expect(await follow(pager(`/connectors/${id}/rejects`, 3), 3)).toEqual({ ids: seeded.rejects, pages: 4 });
      expect(await follow(pager('/backfills', 3), 3)).toEqual({ ids: seeded.backfills, pages: 4 });
      expect((await follow(pager(`/connectors/${id}/rejects?all=true`, 4), 4)).ids).toHaveLength(ROWS + 1);
      expect((await follow(pager(`/connectors/${id}/runs?stream=a`, 2), 2)).ids).toEqual(seeded.runs.filter((_, i) => i % 2 === 0));
      // Exactly a page of rows: one page, no next.
      expect((await call(`/connectors/${id}/runs?limit=${ROWS}`)).body).toEqual({ items: expect.any(Array) });
      // Without parameters: the default page of 100 holds them all.
      expect((await call(`/connectors/${id}/runs`)).body.items).toHaveLength(ROWS);

      // A run written between pages is newer than the cursor: no repeat, no shift.
      const first = await pager(`/connectors/${id}/runs`, 4)();
      await store.db.insertInto('runs').values({ connector_id: id, stream: 'a', kind: 'pull', status: 'succeeded' }).execute();
      const second = await pager(`/connectors/${id}/runs`, 4)(first.next);
      expect(second.items.map((r: { id: string }) => r.id)).toEqual(seeded.runs.slice(4, 8));

      const refused = async (path: string, name: string) => {
        const res = await call(path);
        expect(res.status, path).toBe(400);
        expect(res.body.error).toBe('RP_CONFIG_INVALID');
        expect(res.body.message).toMatch(new RegExp(`^${name} `));
      };
      await refused(`/connectors/${id}/runs?cursor=not-a-cursor`, 'cursor');
      await refused(`/connectors/${id}/runs?cursor=${Buffer.from('{"id":1}').toString('base64url')}`, 'cursor');
      // A cursor of another list is refused, not misread.
      await refused(`/backfills?cursor=${first.next}`, 'cursor');
      await refused(`/connectors/${id}/rejects?cursor=${first.next}`, 'cursor');
      // A tampered id past bigint's range is refused, not handed to the store (found in review: a 500).
      const cursorOf = (...parts: string[]) => Buffer.from(JSON.stringify(parts)).toString('base64url');
      expect((await call(`/backfills?cursor=${cursorOf('backfills', '9223372036854775807')}`)).status).toBe(200);
      await refused(`/backfills?cursor=${cursorOf('backfills', '9999999999999999999')}`, 'cursor');
      await refused(`/connectors/${id}/runs?cursor=${cursorOf('runs', '9999999999999999999')}`, 'cursor');
      for (const limit of ['0', '1001', 'abc', '-1', '2.5']) await refused(`/connectors/${id}/runs?limit=${limit}`, 'limit');
      await refused('/backfills?limit=0', 'limit');
    } finally {
      await app.close();
      await backfills.stop();
    }
  });

  test('CLI: --limit and --after page through, the table names the next page, bad ones are refused', { timeout: 120_000 }, async ({ lab }) => {
    const seeded = await seed(lab);
    const { store, id } = seeded;
    const env = { DATABASE_URL: store.url, LOG_LEVEL: 'silent' };
    const cliPage = (args: string[]) => async (cursor?: string) => {
      const r = await lab.cli([...args, '--json', ...(cursor ? ['--after', cursor] : [])], { env });
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { items: { id: string }[]; next?: string };
    };
    const [runs, rejects, backfills] = await Promise.all([
      follow(cliPage(['runs', id, '--limit', '4']), 4),
      follow(cliPage(['rejects', id, '--limit', '4']), 4),
      follow(cliPage(['backfill', 'list', '--limit', '4']), 4),
    ]);
    expect(runs).toEqual({ ids: seeded.runs, pages: 3 });
    expect(rejects).toEqual({ ids: seeded.rejects, pages: 3 });
    expect(backfills).toEqual({ ids: seeded.backfills, pages: 3 });

    // The table says how to get the next page; the last page says nothing.
    const table = await lab.cli(['rejects', id, '--all', '--limit', '6'], { env });
    expect(table.code, table.stderr).toBe(0);
    const more = /^more rows: reach-puller (rejects .*)$/m.exec(table.stdout);
    expect(more?.[1]).toMatch(new RegExp(`^rejects ${id} --all --limit 6 --after [A-Za-z0-9_-]+$`));
    const last = await lab.cli(more![1]!.split(' '), { env });
    expect(last.code, last.stderr).toBe(0);
    expect(last.stdout.trim().split('\n')).toHaveLength(1 + ROWS + 1 - 6);
    expect(last.stdout).not.toContain('more rows');
    const backfillTable = await lab.cli(['backfills', '--limit', '9'], { env });
    expect(backfillTable.stdout).toMatch(/^more rows: reach-puller backfill list --limit 9 --after [A-Za-z0-9_-]+$/m);

    const [badCursor, badLimit, bigLimit, foreign, misplaced] = await Promise.all([
      lab.cli(['runs', id, '--after', 'nonsense'], { env }),
      lab.cli(['rejects', id, '--limit', 'ten'], { env }),
      lab.cli(['backfill', 'list', '--limit', '1001'], { env }),
      lab.cli(['backfill', 'list', '--after', (await cliPage(['runs', id, '--limit', '1'])()).next!], { env }),
      lab.cli(['backfill', id, '--limit', '5'], { env }),
    ]);
    for (const [r, name] of [[badCursor, '--after'], [badLimit, '--limit'], [bigLimit, '--limit'], [foreign, '--after']] as const) {
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(`error RP_CONFIG_INVALID: ${name} `);
    }
    expect(misplaced.code).toBe(2);
    expect(misplaced.stderr).toContain('--limit: pages only `backfill list`');
  });
});
