/**
 * Found in review (64f737f): two builds at once. Each build removes the digest, moves its files
 * into dist/ one by one and writes its own digest last, but nothing keeps another build from
 * moving its files in after that digest is written. A build of the sources as they were
 * (started before an edit: `npm ci`'s prepare, a second terminal) that is still moving its
 * files when the build of the edited sources writes its digest leaves dist/ holding old
 * modules under a digest that matches the sources now: the CLI runs the old code. Killed
 * there (Ctrl-C, kill -9) it stays so until the next build.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const MODULES = 1000;
let tree: string;

const runsFrom = () => execFileSync(process.execPath, [path.join(tree, 'bin/reach-puller.js')], { encoding: 'utf8' });

/** Every module of the CLI says which sources it was built from. */
function writeSources(version: string): void {
  for (let i = 0; i < MODULES; i++) writeFileSync(path.join(tree, `src/cli/m/m${i}.ts`), `export const v: string = '${version}';\n`);
  const names = Array.from({ length: MODULES }, (_, i) => `m${i}`);
  writeFileSync(path.join(tree, 'src/cli/main.ts'),
    names.map((n) => `import { v as ${n} } from './m/${n}.ts';`).join('\n') +
    `\nprocess.stdout.write([...new Set(['${version}', ${names.join(', ')}])].sort().join(','));\n`);
}

/** Starts a build and pauses it (SIGSTOP) once tsc has emitted everything: it is about to replace dist/. */
async function stagedBuild(): Promise<ChildProcess> {
  const child = spawn(process.execPath, [path.join(tree, 'bin/build.js')], { stdio: 'ignore' });
  const staging = path.join(tree, `dist.building-${child.pid}`);
  const emitted = () => existsSync(staging) ? readdirSync(staging, { recursive: true }).filter((f) => String(f).endsWith('.js')).length : 0;
  // tsc has read every source before it emits the first file.
  while (!existsSync(staging)) await sleep(5);
  child.kill('SIGSTOP');
  // tsc (its child) finishes meanwhile.
  while (emitted() < MODULES + 1) await sleep(20);
  await sleep(300);
  return child;
}

beforeAll(() => {
  tree = mkdtempSync(path.join(tmpdir(), 'rp-cli-builds-'));
  for (const entry of ['bin', 'package.json', 'tsconfig.json', 'tsconfig.build.json']) cpSync(path.join(ROOT, entry), path.join(tree, entry), { recursive: true });
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(tree, 'node_modules'));
  mkdirSync(path.join(tree, 'src/cli/m'), { recursive: true });
});

afterAll(() => rmSync(tree, { recursive: true, force: true }));

describe('two builds at once', () => {
  test('a build of the sources before an edit, beside the build of the edit: the CLI never runs the old code under the new digest', async () => {
    writeSources('v1');
    expect(spawnSync(process.execPath, [path.join(tree, 'bin/build.js')]).status).toBe(0);
    expect(runsFrom()).toBe('v1');

    // Build A compiles the sources as they are (v1); the sources are edited (v2) and build B compiles them.
    const a = await stagedBuild();
    writeSources('v2');
    const b = await stagedBuild();
    const digest = path.join(tree, 'dist/.source-digest');
    // A starts replacing dist/ (it has removed the digest), then is slow (paused) among its renames.
    const slice = () => spawnSync('bash', ['-c', `kill -CONT ${a.pid}; kill -STOP ${a.pid}`]);
    while (existsSync(digest)) slice();
    // B replaces dist/ and writes its digest (or waits for A to be done).
    const bDone = new Promise((r) => b.on('exit', r));
    b.kill('SIGCONT');
    await Promise.race([bDone, sleep(15_000)]);
    // A goes on moving its files in (a slice at a time, until some are in), and is killed (Ctrl-C) before it is done.
    const staged = () => readdirSync(path.join(tree, `dist.building-${a.pid}`), { recursive: true }).filter((f) => String(f).endsWith('.js')).length;
    const before = staged();
    while (staged() === before) slice();
    a.kill('SIGKILL');
    await new Promise((r) => (a.exitCode !== null || a.signalCode !== null ? r(undefined) : a.on('exit', r)));
    expect(await bDone).toBe(0);
    // The sources are v2: the CLI must run v2, from dist/ or through tsx.
    expect(runsFrom()).toBe('v2');
  }, 180_000);
});
