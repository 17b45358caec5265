/**
 * bin/reach-puller.js runs the compiled CLI only when `npm run build` made it from the sources
 * as they are now, so a stale dist/ never shadows the sources the tests and a developer run;
 * where only dist/ ships (the image) it runs dist/. Checked on a small tree of its own: a
 * "CLI" that prints where it runs from, built by bin/build.js with the real compiler.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
// @ts-expect-error: plain JavaScript without declarations, run by node as the bin runs it
import { sourceDigest } from '../../bin/source-digest.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
let tree: string;

const MAIN = "const from: string = 'sources';\nprocess.stdout.write(from);\n";
const runsFrom = () => execFileSync(process.execPath, [path.join(tree, 'bin/reach-puller.js')], { encoding: 'utf8' });
const build = () => spawnSync(process.execPath, [path.join(tree, 'bin/build.js')], { encoding: 'utf8' });
const writeMain = (text: string) => writeFileSync(path.join(tree, 'src/cli/main.ts'), text);

beforeAll(() => {
  tree = mkdtempSync(path.join(tmpdir(), 'rp-cli-entry-'));
  for (const entry of ['bin', 'package.json', 'tsconfig.json', 'tsconfig.build.json']) cpSync(path.join(ROOT, entry), path.join(tree, entry), { recursive: true });
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(tree, 'node_modules'));
  mkdirSync(path.join(tree, 'src/cli'), { recursive: true });
});

afterAll(() => rmSync(tree, { recursive: true, force: true }));

describe('which CLI bin/reach-puller.js runs', () => {
  test('the build runs where it was built from these sources; an edit, or a build that failed, runs the sources', () => {
    writeMain(MAIN);
    expect(runsFrom()).toBe('sources');

    expect(build().status).toBe(0);
    // What the build emitted, changed so that it tells itself apart from the sources.
    writeFileSync(path.join(tree, 'dist/cli/main.js'), "process.stdout.write('dist');\n");
    expect(runsFrom()).toBe('dist');

    // An edit after the build: the sources, until the next build.
    writeMain(`${MAIN}// edited\n`);
    expect(runsFrom()).toBe('sources');
    expect(build().status).toBe(0);
    writeFileSync(path.join(tree, 'dist/cli/main.js'), "process.stdout.write('dist');\n");
    expect(runsFrom()).toBe('dist');

    // A tsconfig change can change what is emitted: the build is stale too.
    writeFileSync(path.join(tree, 'tsconfig.build.json'), `${JSON.stringify({ extends: './tsconfig.json', compilerOptions: { noEmit: false, rootDir: 'src', outDir: 'dist', removeComments: true }, include: ['src'] })}\n`);
    expect(runsFrom()).toBe('sources');

    // tsc emits even when the types are wrong; such a build never replaces dist/ (whose
    // digest, of the sources before, no longer matches), and nothing of it is left behind.
    writeMain("const from: number = 'sources';\nprocess.stdout.write(String(from));\n");
    const failed = build();
    expect(failed.status).not.toBe(0);
    expect(readFileSync(path.join(tree, 'dist/.source-digest'), 'utf8').trim()).not.toBe(sourceDigest(tree));
    expect(readdirSync(tree).filter((name) => name.startsWith('dist'))).toEqual(['dist']);
    expect(runsFrom()).toBe('sources');
  });

  test('without sources (the image ships dist/ only) it runs dist/, with or without a digest', () => {
    mkdirSync(path.join(tree, 'src/cli'), { recursive: true });
    writeMain(MAIN);
    expect(build().status).toBe(0);
    writeFileSync(path.join(tree, 'dist/cli/main.js'), "process.stdout.write('dist');\n");
    rmSync(path.join(tree, 'src'), { recursive: true });
    expect(runsFrom()).toBe('dist');
    rmSync(path.join(tree, 'dist/.source-digest'));
    expect(runsFrom()).toBe('dist');
  });
});
