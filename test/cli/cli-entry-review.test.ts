/**
 * The fast-start CLI against what review found: a source reached through a symlink, a rebuild
 * racing a CLI that starts from dist/, and a production install without the compiler (each
 * failed on 84bb2d3).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
let tree: string;

const runsFrom = () => execFileSync(process.execPath, [path.join(tree, 'bin/reach-puller.js')], { encoding: 'utf8' });
const build = () => spawnSync(process.execPath, [path.join(tree, 'bin/build.js')], { encoding: 'utf8' });

beforeAll(() => {
  tree = mkdtempSync(path.join(tmpdir(), 'rp-cli-review-'));
  for (const entry of ['bin', 'package.json', 'tsconfig.json', 'tsconfig.build.json']) cpSync(path.join(ROOT, entry), path.join(tree, entry), { recursive: true });
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(tree, 'node_modules'));
});

afterAll(() => rmSync(tree, { recursive: true, force: true }));

describe('stale dist/', () => {
  test('a source reached through a symlink under src/ is part of the digest: editing it runs the edit', () => {
    rmSync(path.join(tree, 'src'), { recursive: true, force: true });
    rmSync(path.join(tree, 'shared'), { recursive: true, force: true });
    mkdirSync(path.join(tree, 'src/cli'), { recursive: true });
    mkdirSync(path.join(tree, 'shared'), { recursive: true });
    // A file symlink and a directory symlink: tsc follows both and compiles what they point at;
    // source-digest.js keeps only `entry.isFile()`, so neither target is hashed.
    writeFileSync(path.join(tree, 'shared/msg.ts'), "export const from: string = 'v1';\n");
    mkdirSync(path.join(tree, 'shared/lib'));
    writeFileSync(path.join(tree, 'shared/lib/suffix.ts'), "export const suffix: string = '-a';\n");
    symlinkSync('../../shared/msg.ts', path.join(tree, 'src/cli/msg.ts'));
    symlinkSync('../shared/lib', path.join(tree, 'src/lib'));
    writeFileSync(path.join(tree, 'src/cli/main.ts'),
      "import { from } from './msg.ts';\nimport { suffix } from '../lib/suffix.ts';\nprocess.stdout.write(from + suffix);\n");
    expect(build().status).toBe(0);
    expect(runsFrom()).toBe('v1-a');

    writeFileSync(path.join(tree, 'shared/msg.ts'), "export const from: string = 'v2';\n");
    expect(runsFrom()).toBe('v2-a');
    writeFileSync(path.join(tree, 'shared/lib/suffix.ts'), "export const suffix: string = '-b';\n");
    expect(runsFrom()).toBe('v2-b');
  });

  test('a build that starts while the CLI starts from dist/ does not make that CLI fail (ERR_MODULE_NOT_FOUND)', async () => {
    rmSync(path.join(tree, 'src'), { recursive: true, force: true });
    rmSync(path.join(tree, 'shared'), { recursive: true, force: true });
    mkdirSync(path.join(tree, 'src/cli/commands'), { recursive: true });
    // The real CLI's shape: main loads a command module lazily, the command its code lazily.
    writeFileSync(path.join(tree, 'src/cli/main.ts'),
      // It says it runs (a file), then waits for the test's go-ahead (a file) before loading its
      // command, so the test can start the rebuild in between and let it load at the worst moment.
      "import { existsSync, writeFileSync } from 'node:fs';\nif (process.env.READY_FILE) writeFileSync(process.env.READY_FILE, '');\n" +
      "while (process.env.GO_FILE && !existsSync(process.env.GO_FILE)) await new Promise((r) => setTimeout(r, 10));\n" +
      "const { run } = await import('./commands/status.ts');\nprocess.stdout.write(run());\n");
    writeFileSync(path.join(tree, 'src/cli/commands/status.ts'), "export const run = (): string => 'status ok';\n");
    expect(build().status).toBe(0);
    expect(runsFrom()).toBe('status ok');

    // The CLI starts from the matching dist/ (a test spawning it, `npx reach-puller status`)
    // while `npm run build` / `npm ci` / `npm run bench` rebuilds the same sources.
    const go = path.join(tree, 'go');
    const ready = path.join(tree, 'ready');
    rmSync(go, { force: true });
    rmSync(ready, { force: true });
    const cli = spawn(process.execPath, [path.join(tree, 'bin/reach-puller.js')], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GO_FILE: go, READY_FILE: ready } });
    let out = '';
    let err = '';
    cli.stdout.on('data', (d) => { out += d; });
    cli.stderr.on('data', (d) => { err += d; });
    // The CLI has chosen dist/ (its main.js is running) before the rebuild starts.
    while (!existsSync(ready)) await new Promise((r) => setTimeout(r, 5));
    const rebuild = spawn(process.execPath, [path.join(tree, 'bin/build.js')], { stdio: 'ignore' });
    let rebuilt = false;
    const rebuilding = new Promise((r) => rebuild.on('exit', r)).then(() => { rebuilt = true; });
    // The CLI goes on the moment its command module is gone (the old build's swap moved dist/
    // aside, then the new one in), or once the rebuild is over (each file is replaced in place).
    while (!rebuilt && existsSync(path.join(tree, 'dist/cli/commands/status.js'))) await new Promise((r) => setTimeout(r, 5));
    writeFileSync(go, '');
    const [code] = await Promise.all([new Promise<number | null>((r) => cli.on('exit', r)), rebuilding]);
    expect(err).not.toContain('ERR_MODULE_NOT_FOUND');
    expect({ code, out }).toEqual({ code: 0, out: 'status ok' });
  });
});

describe('install', () => {
  test('`npm ci --omit=dev` (NODE_ENV=production) can run `prepare`: the build does not need the devDependency typescript to succeed', () => {
    // bin/build.js runs node_modules/typescript/bin/tsc, a devDependency: with --omit=dev the
    // `prepare` script exits 1 and so does `npm ci`, although the CLI itself (tsx) would run.
    // Before 5385bce there was no `prepare` and a production install succeeded.
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; devDependencies: Record<string, string> };
    const prod = mkdtempSync(path.join(tmpdir(), 'rp-cli-prod-'));
    try {
      for (const entry of ['bin', 'package.json', 'tsconfig.json', 'tsconfig.build.json', 'src']) cpSync(path.join(ROOT, entry), path.join(prod, entry), { recursive: true });
      // What `npm ci --omit=dev` leaves: production dependencies only. Simulated by a
      // node_modules without typescript (tsx, which the bin needs, linked in).
      mkdirSync(path.join(prod, 'node_modules'));
      for (const name of ['tsx']) symlinkSync(path.join(ROOT, 'node_modules', name), path.join(prod, 'node_modules', name));
      expect(pkg.devDependencies.typescript).toBeDefined();
      expect(pkg.scripts.prepare).toBeDefined();
      const prepare = spawnSync('sh', ['-c', pkg.scripts.prepare], { cwd: prod, encoding: 'utf8' });
      expect({ status: prepare.status, stderr: prepare.stderr.split('\n').find((l) => l.includes('Cannot find')) }).toEqual({ status: 0, stderr: undefined });
      expect(existsSync(path.join(prod, 'src'))).toBe(true);
    } finally {
      rmSync(prod, { recursive: true, force: true });
    }
  });
});
