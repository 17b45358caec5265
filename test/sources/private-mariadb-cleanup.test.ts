/**
 * rv19: the private MariaDB (test/helpers/mariadb-private-server.ts) of time-zone.test.ts and
 * tls.test.ts must not outlive the test process that started it. Issue 19 asks for a teardown
 * that kills every child and removes every temp directory even after a failure, and for the
 * suite to pass beside a second copy: a crashed or cancelled run must not leave a mariadbd
 * (about 100 MB resident, a port) or its data directory (about 120 MB in /tmp) behind.
 *
 * A child process starts one server with TMPDIR pointed at a lab directory, then dies as a
 * crashed vitest worker does (SIGKILL) or as a run cancelled by `timeout`/CI does (SIGTERM to
 * its process group). Within 10 s the server must be gone and its directory removed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { TEST_DIALECTS } from '../helpers/partner.ts';
import { describe, expect, test, type Lab } from '../fixture.ts';

const HELPER = path.resolve(import.meta.dirname, '../helpers/mariadb-private-server.ts');

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** A child that starts a private MariaDB under `tmp` and waits; resolves once the server answers. */
async function startInChild(lab: Lab, detached: boolean): Promise<{ child: ChildProcess; tmp: string; dir: string; pid: number }> {
  const tmp = await lab.tmpDir();
  const script = path.join(tmp, 'start.mts');
  writeFileSync(script, `import { startPrivateMariaDb } from ${JSON.stringify(HELPER)};
const s = await startPrivateMariaDb({ database: 'partner' });
process.stdout.write('ready ' + s.port + '\\n');
setInterval(() => {}, 1000);
`);
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'inherit'], detached,
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready ')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the child exited (${code}) before its server was ready: ${out}`)));
  });
  const dir = path.join(tmp, readdirSync(tmp).find((n) => n.startsWith('rp-mariadb-'))!);
  const pid = Number(readFileSync(path.join(dir, 'mariadbd.pid'), 'utf8').trim());
  expect(alive(pid)).toBe(true);
  return { child, tmp, dir, pid };
}

/** What is left 10 s after the child died (polled); the server is killed afterwards whatever the outcome. */
async function leftOver(pid: number, dir: string): Promise<{ serverRunning: boolean; dataDirLeft: boolean }> {
  try {
    for (let waited = 0; waited < 10_000 && (alive(pid) || existsSync(dir)); waited += 200) await new Promise((r) => setTimeout(r, 200));
    return { serverRunning: alive(pid), dataDirLeft: existsSync(dir) };
  } finally {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
}

describe.skipIf(!TEST_DIALECTS.includes('mysql'))('private MariaDB after its test process dies', () => {
  test('a test process killed with SIGKILL (a crashed worker) leaves no mariadbd running and no data directory', async ({ lab }) => {
    const { child, pid, dir } = await startInChild(lab, false);
    child.kill('SIGKILL');
    expect(await leftOver(pid, dir)).toEqual({ serverRunning: false, dataDirLeft: false });
  });

  test('a run cancelled with SIGTERM to its process group (timeout, CI cancel) leaves no data directory', async ({ lab }) => {
    const { child, pid, dir } = await startInChild(lab, true);
    process.kill(-child.pid!, 'SIGTERM');
    expect(await leftOver(pid, dir)).toEqual({ serverRunning: false, dataDirLeft: false });
  });
});

describe.skipIf(!TEST_DIALECTS.includes('mysql'))('private MariaDB whose start fails', () => {
  /** Runs `start` with TMPDIR at a lab directory; what it leaves there (directories, live servers), killed afterwards. */
  async function leftAfterFailedStart(lab: Lab, start: () => Promise<unknown>): Promise<{ rejected: boolean; dirs: number; servers: number }> {
    const tmp = await lab.tmpDir();
    const before = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    let rejected = false;
    try {
      await start().catch(() => (rejected = true));
    } finally {
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
    }
    const dirs = readdirSync(tmp).filter((n) => n.startsWith('rp-mariadb-')).map((n) => path.join(tmp, n));
    const pids = dirs.map((d) => path.join(d, 'mariadbd.pid')).filter(existsSync).map((f) => Number(readFileSync(f, 'utf8').trim())).filter(alive);
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    return { rejected, dirs: dirs.length, servers: pids.length };
  }

  test('a server that exits at start (a bad option) leaves no data directory', async ({ lab }) => {
    const { startPrivateMariaDb } = await import('../helpers/mariadb-private-server.ts');
    expect(await leftAfterFailedStart(lab, () => startPrivateMariaDb({ database: 'partner', args: ['--no-such-option-rv19'] })))
      .toEqual({ rejected: true, dirs: 0, servers: 0 });
  });

  test('a server that started but whose database could not be made is stopped and removed', async ({ lab }) => {
    const { startPrivateMariaDb } = await import('../helpers/mariadb-private-server.ts');
    // A name the create statement cannot take (a backquote ends its quoting): the server is up when it fails.
    expect(await leftAfterFailedStart(lab, () => startPrivateMariaDb({ database: 'bad`name' })))
      .toEqual({ rejected: true, dirs: 0, servers: 0 });
  });
});

describe.skipIf(!TEST_DIALECTS.includes('mysql'))('private MariaDB leftovers', () => {
  test('a start removes what a test process that died with its watchdog (SIGKILL of its group) left: the server and its directory', async ({ lab }) => {
    const { startPrivateMariaDb } = await import('../helpers/mariadb-private-server.ts');
    const tmp = await lab.tmpDir();
    // A pid no process holds any more: the owner the leftover's name records.
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    const dir = path.join(tmp, `rp-mariadb-${dead}-left`);
    mkdirSync(path.join(dir, 'data'), { recursive: true });
    // Stands in for its mariadbd: a process whose command line names the directory.
    const orphan = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', '--', `--datadir=${dir}/data`], { stdio: 'ignore' });
    const orphanExited = new Promise((resolve) => orphan.once('exit', resolve));
    writeFileSync(path.join(dir, 'mariadbd.pid'), String(orphan.pid));
    const before = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    try {
      const server = await startPrivateMariaDb({ database: 'partner' });
      await server.close();
    } finally {
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
      if (alive(orphan.pid!)) orphan.kill('SIGKILL');
    }
    expect(existsSync(dir)).toBe(false);
    expect(await orphanExited).toBe(null);
    expect(orphan.signalCode).toBe('SIGKILL');
  });
});
