/**
 * A private MariaDB server, for tests of server settings the shared local server must not
 * change (TLS required, a default time zone that is not UTC). `mariadb-install-db` and `mariadbd` from the
 * machine's packages, in a temporary directory, on a free loopback port; it holds one
 * database with the partner's view and a SELECT-only user. Starting one takes about a second.
 */
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

/**
 * Starts the server, requiring TLS with `tls` (PEM texts) when given, with `args` added to
 * its command line; creates `database` and the read-only user.
 */
export async function startPrivateMariaDb(options: { database: string; tls?: { cert: string; key: string }; args?: string[] }): Promise<PrivateMariaDb> {
  const dir = mkdtempSync(path.join(tmpdir(), 'rp-mariadb-'));
  const file = (name: string, text: string) => {
    writeFileSync(path.join(dir, name), text, { mode: 0o600 });
    return path.join(dir, name);
  };
  const socket = path.join(dir, 'mariadb.sock');
  execFileSync('mariadb-install-db', ['--no-defaults', `--datadir=${dir}/data`, '--auth-root-authentication-method=normal', '--skip-test-db'], { stdio: 'ignore' });
  const port = await freePort();
  const server = spawn('/usr/sbin/mariadbd', [
    '--no-defaults', `--datadir=${dir}/data`, `--port=${port}`, '--bind-address=127.0.0.1', `--socket=${socket}`,
    `--pid-file=${dir}/mariadbd.pid`, '--user=root', '--skip-log-bin', '--innodb-buffer-pool-size=16M', `--log-error=${dir}/error.log`,
    ...(options.tls
      ? [`--ssl-cert=${file('server.crt', options.tls.cert)}`, `--ssl-key=${file('server.key', options.tls.key)}`, '--require-secure-transport=ON']
      : []),
    ...(options.args ?? []),
  ], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  const exec = async (...statements: string[]) => {
    const conn = await mysql.createConnection({ socketPath: socket, user: 'root', multipleStatements: true });
    try {
      for (const statement of statements) await conn.query(statement);
    } finally {
      await conn.end();
    }
  };
  // Ready when a login works: the socket file appears before the server accepts on it.
  for (let waited = 0; ; waited += 100) {
    if (existsSync(socket) && (await exec('select 1').then(() => true, () => false))) break;
    if (waited > 30_000 || server.exitCode !== null) {
      server.kill('SIGKILL');
      throw new Error(`the private MariaDB did not start; see ${dir}/error.log`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await exec(
    `create database \`${options.database}\``,
    `create user '${RO_USER}'@'%' identified by '${RO_PASSWORD}'`,
    `grant select on \`${options.database}\`.* to '${RO_USER}'@'%'`,
  );
  return {
    port,
    database: options.database,
    exec: (...statements) => exec(`use \`${options.database}\``, ...statements),
    close: async () => {
      server.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
