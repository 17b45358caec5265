/**
 * The embedded (PGlite) store is one process's: PGlite has no lock of its own, and two
 * processes on one data directory corrupt it. Every process that opens it binds an abstract
 * Unix socket named after the directory (Linux): the kernel lets one process bind it and
 * frees it the moment that process dies, so there is no stale lock to judge. Elsewhere a pid
 * file does the same, less strictly. `store.lock` names the holder for the error message.
 */
import { createHash } from 'node:crypto';
import { readFile, realpath, unlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { PullerError } from '../errors.ts';

export interface StoreHolder {
  pid: number;
  command: string;
}

/** Takes the embedded store in `dataDir` for this process; returns its release. */
export async function lockEmbeddedStore(dataDir: string, command: string): Promise<() => Promise<void>> {
  const info = path.join(dataDir, 'store.lock');
  const release = process.platform === 'linux' ? await bindSocket(dataDir, info) : await createPidFile(info);
  await writeFile(info, JSON.stringify({ pid: process.pid, command } satisfies StoreHolder));
  return release;
}

/** Who holds the embedded store in `dataDir`, if a live process does. */
export async function embeddedStoreHolder(dataDir: string): Promise<StoreHolder | undefined> {
  const holder = await readHolder(path.join(dataDir, 'store.lock'));
  return holder && isAlive(holder.pid) ? holder : undefined;
}

async function bindSocket(dataDir: string, info: string): Promise<() => Promise<void>> {
  const name = `\0reach-puller-store-${createHash('sha256').update(await realpath(dataDir)).digest('hex').slice(0, 40)}`;
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path: name }, () => resolve());
  }).catch(async (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EADDRINUSE') throw error;
    throw busy(dataDir, await readHolder(info));
  });
  // The socket never accepts anyone; it must not keep the process alive either.
  server.unref();
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}

async function createPidFile(info: string): Promise<() => Promise<void>> {
  const marker = `${info}.pid`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(marker, String(process.pid), { flag: 'wx' });
      return () => unlink(marker).catch(() => undefined);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number(await readFile(marker, 'utf8').catch(() => ''));
      if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) throw busy(path.dirname(info), await readHolder(info));
      await unlink(marker).catch(() => undefined);
    }
  }
  throw busy(path.dirname(info), undefined);
}

function busy(dataDir: string, holder: StoreHolder | undefined): PullerError {
  const who = holder ? `reach-puller ${holder.command} (pid ${holder.pid})` : 'another process';
  return new PullerError('RP_STORE_LOCKED', `${who} holds the embedded store in ${dataDir}`);
}

async function readHolder(file: string): Promise<StoreHolder | undefined> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as StoreHolder;
    return Number.isInteger(parsed.pid) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
