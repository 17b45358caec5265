/** Runs the real CLI in a child process, as an operator would. */
import { spawn } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `reach-puller <args>` with extra environment; resolves when it exits. */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/reach-puller.js'), ...args], {
      cwd: options.cwd ?? ROOT,
      env: {
        ...process.env,
        LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
        // The test databases are on loopback, which the network policy refuses by default.
        REACH_PULLER_ALLOW_PRIVATE_NETWORKS: '127.0.0.0/8',
        ...options.env,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** `reach-puller <args>` left running (a `serve`): its output so far, and a stop by SIGTERM that resolves with all of it. */
export function spawnCli(args: string[], options: { env?: NodeJS.ProcessEnv } = {}): { stderr(): string; stop(): Promise<CliResult> } {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/reach-puller.js'), ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', REACH_PULLER_ALLOW_PRIVATE_NETWORKS: '127.0.0.0/8', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<CliResult>((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
  return {
    stderr: () => stderr,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}
