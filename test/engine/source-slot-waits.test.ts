/**
 * Review 8c: one-off commands waiting for a source slot (store/source-slots.ts `inSourceSlot`).
 * Attacks on the wait itself: what it leaves on the signal it watches, whether verify --repair's
 * reconcile stops with verify, self-deadlock at max_connections 1 (PostgreSQL and embedded
 * store), slots given back when the command fails inside its slot, SIGINT to a CLI pull waiting.
 */
import { getEventListeners } from 'node:events';
import { vi } from 'vitest';
import { PullerError } from '../../src/errors.ts';
import { previewStream } from '../../src/engine/preview.ts';
import { pullConnector } from '../../src/engine/pull-connector.ts';
import { verifyConnector } from '../../src/engine/verify.ts';
import type { Hold } from '../../src/store/holds.ts';
import * as slots from '../../src/store/source-slots.ts';
import { registerYaml } from '../helpers/store.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { sleep, waitFor } from '../scheduler/ops-fixtures.ts';
import { describe, expect, test } from '../fixture.ts';

// A hook on each call of inSourceSlot (the one-off commands' way into a slot), to act at the Nth.
let beforeSlot: ((call: number) => Promise<void>) | undefined;
let slotCalls = 0;
vi.mock('../../src/store/source-slots.ts', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/store/source-slots.ts')>();
  return {
    ...original,
    inSourceSlot: async (...args: Parameters<typeof original.inSourceSlot>) => {
      slotCalls++;
      await beforeSlot?.(slotCalls);
      return original.inSourceSlot(...args);
    },
  };
});

const ROWS = 30;
const columns = 'id bigint primary key, email text, updated_at timestamptz not null';
const fill = (n: number) => `select g, 'u' || g || '@x.io', now() - interval '1 hour' + g * interval '1 ms' from generate_series(1, ${n}) g`;
const body = (view: string) => `streams:
  - { name: people, view: ${view}, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: id, email: email } }
`;

describe('review 8c: waiting for a source slot', () => {
  test('a wait leaves no abort listener behind on the signal it watched (one per 500 ms poll before)', { timeout: 60_000 }, async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const name = lab.unique('lst');
    const { view } = await lab.view(partner, name, columns, fill(3));
    const connector = await lab.connector(store, partner, { id: name, source: 'max_connections: 1\nsettle_seconds: 0', body: body(view) });
    const replica = (await lab.storeProcess(store, 'replica')).store;
    let held: Hold | undefined = await slots.takeSourceSlot(replica.db, connector.sourceId, 1);
    expect(held).toBeDefined();
    const controller = new AbortController();
    try {
      const waiting = slots.inSourceSlot(store.db, connector, { signal: controller.signal }, async () => 'ran');
      await sleep(3_200);
      // Six polls so far: the wait needs at most one listener at a time.
      expect(getEventListeners(controller.signal, 'abort').length).toBeLessThanOrEqual(1);
      await held!.release();
      held = undefined;
      expect(await waiting).toBe('ran');
      // A CLI pull's signal lives on after the wait (SIGINT handler): nothing of the wait stays on it.
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    } finally {
      await held?.release();
    }
  });

  test('verify --repair stops on its signal while its reconcile of extras waits for a slot', { timeout: 60_000 }, async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const name = lab.unique('vrs');
    const { table, view } = await lab.view(partner, name, columns, fill(ROWS));
    const connector = await lab.connector(store, partner, { id: name, source: 'max_connections: 1\nsettle_seconds: 0', body: body(view) });
    expect(await pullConnector({ store: store.db, connector, log: testLog })).toMatchObject([{ status: 'succeeded', rowsSent: ROWS }]);
    // One extra for the repair's reconcile; nothing missing, so the reconcile is the second slot of the verify.
    await partner.exec(`delete from ${table} where id = 5`);
    const replica = (await lab.storeProcess(store, 'replica')).store;
    let held: Hold | undefined;
    const controller = new AbortController();
    slotCalls = 0;
    // Another replica takes the only slot between the scan and the reconcile.
    beforeSlot = async (call) => {
      if (call === 2) held = await slots.takeSourceSlot(replica.db, connector.sourceId, 1);
    };
    try {
      let settled = false;
      const verified = verifyConnector({ store: store.db, connector, log: testLog, repair: true, signal: controller.signal })
        .finally(() => (settled = true));
      verified.catch(() => undefined);
      await waitFor('the reconcile to wait for the slot', () => held !== undefined, 20_000);
      await sleep(700);
      expect(settled).toBe(false);
      controller.abort();
      // The CLI's SIGINT: the verify must stop, not wait for the replica (the CLI abandons it after 30 s).
      await waitFor('verify --repair to stop after its signal', () => settled, 5_000);
      await expect(verified).rejects.toMatchObject({ code: 'RP_RUN_CANCELLED' });
      const running = await store.db.selectFrom('runs').select(['kind']).where('connector_id', '=', connector.id).where('status', '=', 'running').execute();
      expect(running).toEqual([]);
    } finally {
      beforeSlot = undefined;
      await held?.release();
    }
  });

  test('verify --repair at max_connections 1 (missing, stale and extra) takes its slots one after another, on PostgreSQL and embedded stores', { timeout: 90_000 }, async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const pgStore = await lab.store();
    const embedded = await lab.embeddedStore();
    for (const [what, store] of [['pg', pgStore], ['embedded', embedded]] as const) {
      const name = lab.unique(`vr${what}`);
      const { table, view } = await lab.view(partner, name, columns, fill(ROWS));
      const yaml = `tenant: ${name}\n${partner.sourceYaml('  max_connections: 1\n  settle_seconds: 0')}\n${body(view)}`;
      const connector = await registerYaml(store, name, yaml);
      expect(await pullConnector({ store: store.db, connector, log: testLog })).toMatchObject([{ status: 'succeeded' }]);
      await partner.exec(
        `delete from ${table} where id = 3`,
        `update ${table} set email = 'changed@x.io' where id = 4`,
        `insert into ${table} values (1000, 'late@x.io', now() - interval '2 hours')`,
      );
      const [report] = await Promise.race([
        verifyConnector({ store: store.db, connector, log: testLog, repair: true }),
        sleep(30_000).then(() => { throw new Error(`verify --repair on the ${what} store hung`); }),
      ]);
      expect(report).toMatchObject({ missing: { count: 1 }, stale: { count: 1 }, extra: { count: 1 }, repair: { sent: 2, reconcile: { deleted: 1 } } });
      // Every slot given back.
      const slot = await slots.takeSourceSlot(store.db, connector.sourceId, 1);
      expect(slot).toBeDefined();
      await slot!.release();
    }
  });

  test('a secret refused or a view gone inside the slot gives the slot back', { timeout: 60_000 }, async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const name = lab.unique('err');
    const { view } = await lab.view(partner, name, columns, fill(3));
    const replica = (await lab.storeProcess(store, 'replica')).store;
    const free = async (sourceId: string) => {
      const slot = await slots.takeSourceSlot(replica.db, sourceId, 1);
      await slot?.release();
      return slot !== undefined;
    };
    // The password's reference names a variable nobody set: refused while the slot is held.
    const unset = lab.unique('RP_REVIEW_UNSET_');
    const refused = await registerYaml(store, `${name}r`,
      `tenant: ${name}r\n${partner.sourceYaml('  max_connections: 1\n  settle_seconds: 0').replace('RP_TEST_RO_PASSWORD', unset)}\n${body(view)}`);
    await expect(pullConnector({ store: store.db, connector: refused, log: testLog })).rejects.toThrow();
    expect(await free(refused.sourceId)).toBe(true);
    await expect(previewStream({ store: store.db, connector: refused, stream: 'people', limit: 1 })).rejects.toThrow();
    expect(await free(refused.sourceId)).toBe(true);
    // The view is gone: planning fails inside the slot.
    const gone = await lab.connector(store, partner, { id: `${name}g`, source: 'max_connections: 1\nsettle_seconds: 0', body: body('v_nothing_here') });
    await expect(previewStream({ store: store.db, connector: gone, stream: 'people', limit: 1 })).rejects.toBeInstanceOf(PullerError);
    expect(await free(gone.sourceId)).toBe(true);
    const [failed] = await pullConnector({ store: store.db, connector: gone, log: testLog });
    expect(failed).toMatchObject({ status: 'failed' });
    expect(await free(gone.sourceId)).toBe(true);
  });

  test('SIGINT ends a CLI pull waiting for a slot at once, with no run left running and no partner session', { timeout: 60_000 }, async ({ lab }) => {
    const partner = await lab.partner('postgres');
    const store = await lab.store();
    const name = lab.unique('sig');
    const { view } = await lab.view(partner, name, columns, fill(3));
    const connector = await lab.connector(store, partner, { id: name, source: 'max_connections: 1\nsettle_seconds: 0', body: body(view) });
    const replica = (await lab.storeProcess(store, 'replica')).store;
    let held: Hold | undefined = await slots.takeSourceSlot(replica.db, connector.sourceId, 1);
    try {
      const pull = lab.spawnCli(['pull', connector.id, '--json'], { env: { DATABASE_URL: store.url, LOG_LEVEL: 'info', REACH_PULLER_SHUTDOWN_SECONDS: '20' } });
      let err = '';
      pull.child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      await waitFor('the pull to say it waits', () => err.includes('waiting for a free slot of the source'), 30_000);
      const signalled = Date.now();
      pull.child.kill('SIGINT');
      const ended = await pull.result;
      expect(Date.now() - signalled).toBeLessThan(3_000);
      expect(ended.code).not.toBe(0);
      expect(ended.code).not.toBe(3);
      const sessions = await partner.query<{ n: string }>(
        `select count(*)::text as n from pg_stat_activity where datname = '${partner.database}' and application_name = 'reach-puller'`);
      expect(Number(sessions[0]!.n)).toBe(0);
      const running = await store.db.selectFrom('runs').select(['kind']).where('connector_id', '=', connector.id).where('status', '=', 'running').execute();
      expect(running).toEqual([]);
    } finally {
      await held?.release();
      held = undefined;
    }
  });
});
