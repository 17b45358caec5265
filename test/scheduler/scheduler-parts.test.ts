/** The scheduler's pure parts and the embedded store's single-process lock. */
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { retryDelayMs } from '../../src/scheduler/retry-delay.ts';
import { embeddedStoreHolder, lockEmbeddedStore } from '../../src/store/embedded-store-lock.ts';
import { lagSeconds } from '../../src/scheduler/stream-status.ts';

describe('retryDelayMs', () => {
  const policy = { attempts: 5, baseMs: 1000, maxMs: 10_000 };
  it('doubles per attempt between half and all of the step, capped', () => {
    expect([1, 2, 3, 4, 5].map((a) => retryDelayMs(a, policy, () => 0))).toEqual([500, 1000, 2000, 4000, 5000]);
    expect([1, 2, 3, 4, 5].map((a) => retryDelayMs(a, policy, () => 1))).toEqual([1000, 2000, 4000, 8000, 10_000]);
  });
});

describe('lagSeconds', () => {
  const now = new Date('2024-06-01T12:00:00Z');
  it('uses the watermark of an instant or local cursor', () => {
    expect(lagSeconds({ watermarkCursor: '2024-06-01T11:58:00.123456Z', settleSeconds: 0, timeZone: 'UTC', now })).toBe(120);
    expect(lagSeconds({ watermarkCursor: '2024-06-01 07:55:00.000000', settleSeconds: 0, timeZone: 'America/New_York', now })).toBe(300);
    expect(lagSeconds({ watermarkCursor: '2024-06-01', settleSeconds: 0, timeZone: 'UTC', now })).toBe(43_200);
  });
  it('counts a quiet view as fresh up to the last successful pull minus its settle window', () => {
    const lastSuccessStart = new Date('2024-06-01T11:59:00Z');
    expect(lagSeconds({ watermarkCursor: '2024-01-01T00:00:00.000000Z', lastSuccessStart, settleSeconds: 120, timeZone: 'UTC', now })).toBe(180);
    expect(lagSeconds({ watermarkCursor: '4711', lastSuccessStart, settleSeconds: 0, timeZone: 'UTC', now })).toBe(60);
    expect(lagSeconds({ watermarkCursor: '4711', settleSeconds: 0, timeZone: 'UTC', now })).toBeNull();
  });
});

describe('the embedded store lock', () => {
  it('lets one process hold the store, names it to the next, and frees it the moment that process dies', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'rp-store-lock-'));
    const release = await lockEmbeddedStore(dir, 'serve');
    await expect(lockEmbeddedStore(dir, 'pull')).rejects.toMatchObject({
      code: 'RP_STORE_LOCKED', message: expect.stringContaining(`reach-puller serve (pid ${process.pid})`),
    });
    expect(await embeddedStoreHolder(dir)).toEqual({ pid: process.pid, command: 'serve' });
    await release();
    // A child takes the lock and is killed -9: no stale lock is left to judge.
    const child = spawn(process.execPath, ['--import', 'tsx', '-e',
      `const { lockEmbeddedStore } = await import(${JSON.stringify(path.resolve('src/store/embedded-store-lock.ts'))});
       await lockEmbeddedStore(${JSON.stringify(dir)}, 'pull'); console.log('locked'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout!.on('data', (d: Buffer) => d.toString().includes('locked') && resolve()));
    await expect(lockEmbeddedStore(dir, 'status')).rejects.toMatchObject({ code: 'RP_STORE_LOCKED' });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    await (await lockEmbeddedStore(dir, 'status'))();
  });
});
