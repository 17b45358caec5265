/**
 * A private MariaDB server, for tests of server settings the shared local server must not
 * change (TLS required, a default time zone that is not UTC). `mariadb-install-db` and `mariadbd` from the
 * machine's packages, in a temporary directory, on a free loopback port; it holds one
 * database with the partner's view and a SELECT-only user. Starting one takes about a second.
 * Nothing outlives the test process: a failed start removes what it made, and a watchdog
 * ends the server and removes its directory once the process that started it is gone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { freePort } from './free-port.ts';
import { RO_PASSWORD, RO_USER } from './partner.ts';

export interface PrivateMariaDb {
  port: number;
  database: string;
  /** Runs statements as root over the server's Unix socket (no TLS needed there). */
  exec(...statements: string[]): Promise<void>;
  close(): Promise<void>;
}

/** Directories are named after the pid of the process that owns them, so a later start can tell a leftover. */
const PREFIX = 'rp-mariadb-';
const BIND_ATTEMPTS = 5;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * Removes what a process that died without its watchdog (SIGKILL of the whole group) left:
 * directories whose owner is gone, and their server if it still runs on that directory.
 */
function removeLeftovers(): void {
  for (const name of readdirSync(tmpdir())) {
    const owner = /^rp-mariadb-(\d+)-/.exec(name)?.[1];
    if (!owner || alive(Number(owner))) continue;
    const dir = path.join(tmpdir(), name);
    try {
      const pid = Number(readFileSync(path.join(dir, 'mariadbd.pid'), 'utf8').trim());
      // The pid may have been reused since: only a mariadbd on this directory is killed.
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`--datadir=${dir}/data`)) process.kill(pid, 'SIGKILL');
    } catch {
      // No pid file or no such process: nothing runs there.
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Ends the server (TERM, then KILL) and removes `dir` once this process is gone, even by SIGKILL.
 * In its own session, so a signal to the test's process group does not end it before it cleans up.
 */
function watchdog(server: number, dir: string): ChildProcess {
  const script = `while kill -0 "$1" 2>/dev/null; do sleep 0.2; done
kill -TERM "$2" 2>/dev/null
i=0; while kill -0 "$2" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
kill -KILL "$2" 2>/dev/null
rm -rf "$3"`;
  const child = spawn('/bin/sh', ['-c', script, 'rp-mariadb-watchdog', String(process.pid), String(server), dir], { stdio: 'ignore', detached: true });
  child.unref();
  return child;
}

/**
 * Starts the server, requiring TLS with `tls` (PEM texts) when given, with `args` added to
 * its command line; creates `database` and the read-only user.
 */
export async function startPrivateMariaDb(options: { database: string; tls?: { cert: string; key: string }; args?: string[] }): Promise<PrivateMariaDb> {
  removeLeftovers();
  const dir = mkdtempSync(path.join(tmpdir(), `${PREFIX}${process.pid}-`));
  let server: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let guard: ChildProcess | undefined;
  const stop = async (signal: NodeJS.Signals) => {
    server?.kill(signal);
    await exited;
    guard?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const file = (name: string, text: string) => {
      writeFileSync(path.join(dir, name), text, { mode: 0o600 });
      return path.join(dir, name);
    };
    const socket = path.join(dir, 'mariadb.sock');
    const log = path.join(dir, 'error.log');
    execFileSync('mariadb-install-db', ['--no-defaults', `--datadir=${dir}/data`, '--auth-root-authentication-method=normal', '--skip-test-db'], { stdio: 'ignore' });
    const exec = async (...statements: string[]) => {
      const conn = await mysql.createConnection({ socketPath: socket, user: 'root', multipleStatements: true });
      try {
        for (const statement of statements) await conn.query(statement);
      } finally {
        await conn.end();
      }
    };
    const tls = options.tls
      ? [`--ssl-cert=${file('server.crt', options.tls.cert)}`, `--ssl-key=${file('server.key', options.tls.key)}`, '--require-secure-transport=ON']
      : [];
    // freePort() closes the port it found: another process may bind it before mariadbd does, then another port is tried.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      writeFileSync(log, '');
      const started = spawn('/usr/sbin/mariadbd', [
        '--no-defaults', `--datadir=${dir}/data`, `--port=${port}`, '--bind-address=127.0.0.1', `--socket=${socket}`,
        `--pid-file=${dir}/mariadbd.pid`, '--user=root', '--skip-log-bin', '--innodb-buffer-pool-size=16M', `--log-error=${log}`,
        ...tls, ...(options.args ?? []),
      ], { stdio: 'ignore' });
      server = started;
      exited = new Promise<void>((resolve) => started.once('exit', () => resolve()));
      guard?.kill('SIGKILL');
      guard = watchdog(started.pid!, dir);
      // Ready when a login works: the socket file appears before the server accepts on it.
      for (let waited = 0; ; waited += 100) {
        if (existsSync(socket) && (await exec('select 1').then(() => true, () => false))) {
          await exec(
            `create database \`${options.database}\``,
            `create user '${RO_USER}'@'%' identified by '${RO_PASSWORD}'`,
            `grant select on \`${options.database}\`.* to '${RO_USER}'@'%'`,
          );
          return {
            port,
            database: options.database,
            exec: (...statements) => exec(`use \`${options.database}\``, ...statements),
            close: () => stop('SIGTERM'),
          };
        }
        if (started.exitCode !== null || started.signalCode !== null) {
          await exited;
          const why = readFileSync(log, 'utf8');
          if (/Address already in use/.test(why) && attempt < BIND_ATTEMPTS) break;
          throw new Error(`the private MariaDB exited at start:\n${why}`);
        }
        if (waited > 30_000) throw new Error(`the private MariaDB did not start in 30 s:\n${readFileSync(log, 'utf8')}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } catch (error) {
    // A server that failed its setup may hang on a graceful shutdown: killed outright.
    await stop('SIGKILL');
    throw error;
  }
}
