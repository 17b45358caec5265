/**
 * The embedded (PGlite) store is one process's: `serve` takes a lock file with its pid under
 * REACH_PULLER_HOME and a second `serve` is refused. A lock whose pid is gone is stale.
 */
import { mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PullerError } from '../errors.ts';

/** Takes the lock; returns the function that releases it. */
export async function acquireServeLock(home: string): Promise<() => Promise<void>> {
  await mkdir(home, { recursive: true });
  const file = path.join(home, 'serve.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, `${process.pid}\n`, { flag: 'wx' });
      return () => unlink(file).catch(() => undefined);
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw error;
      const pid = await lockHolder(file);
      if (pid !== undefined && isAlive(pid)) {
        throw new PullerError('RP_STORE_LOCKED',
          `reach-puller serve (pid ${pid}) already uses the embedded store in ${path.resolve(home)}`);
      }
      await unlink(file).catch(() => undefined);
    }
  }
  throw new PullerError('RP_STORE_LOCKED', `Cannot take ${file}: another process keeps creating it`);
}

/** The pid of a live `serve` holding the embedded store in `home`, if any. */
export async function serveLockHolder(home: string): Promise<number | undefined> {
  const pid = await lockHolder(path.join(home, 'serve.lock'));
  return pid !== undefined && isAlive(pid) ? pid : undefined;
}

async function lockHolder(file: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  const pid = Number(text?.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as { code?: string }).code === 'EPERM';
  }
}

/** Refuses to open the embedded store while `serve` holds it; the ops API answers instead. */
export async function refuseWhileServing(options: { databaseUrl?: string; home?: string }, instead: string): Promise<void> {
  if (options.databaseUrl) return;
  const home = options.home ?? './.reach-puller';
  const pid = await serveLockHolder(home);
  if (pid !== undefined) {
    throw new PullerError('RP_STORE_LOCKED', `reach-puller serve (pid ${pid}) holds the embedded store in ${path.resolve(home)}; ask its ops API instead: ${instead}`);
  }
}
