/** The scheduler's pure parts and the embedded store's single-process lock. */
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { retryDelayMs } from '../../src/scheduler/retry-delay.ts';
import { acquireServeLock, serveLockHolder } from '../../src/scheduler/serve-lock.ts';
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

describe('serve lock on the embedded store', () => {
  it('refuses a second serve and takes over a stale lock', async () => {
    const home = await mkdtemp(path.join(os.tmpdir(), 'rp-ops-lock-'));
    const release = await acquireServeLock(home);
    await expect(acquireServeLock(home)).rejects.toMatchObject({ code: 'RP_STORE_LOCKED', message: expect.stringContaining(`pid ${process.pid}`) });
    expect(await serveLockHolder(home)).toBe(process.pid);
    await release();
    expect(await serveLockHolder(home)).toBeUndefined();
    // A lock left by a process that no longer exists.
    await writeFile(path.join(home, 'serve.lock'), '2147483646\n');
    await (await acquireServeLock(home))();
  });
});
