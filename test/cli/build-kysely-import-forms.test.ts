/**
 * Review of 0bf8b08 (bin/build.js bundles Kysely into dist/vendor/kysely.js): "an import of
 * kysely in a form this cannot rewrite fails the build". A dynamic import written with a
 * template literal, or a require() through createRequire, is a form the build does not
 * rewrite: it must fail the build, not ship a dist/ that loads a second Kysely from
 * node_modules (or fails at run time where dist/ ships without it).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
let tree: string;

const build = () => spawnSync(process.execPath, [path.join(tree, 'bin/build.js')], { encoding: 'utf8' });
const write = (file: string, text: string) => {
  mkdirSync(path.dirname(path.join(tree, file)), { recursive: true });
  writeFileSync(path.join(tree, file), text);
};

beforeEach(() => {
  tree = mkdtempSync(path.join(tmpdir(), 'rp-build-kysely-forms-'));
  for (const entry of ['bin', 'package.json', 'tsconfig.json', 'tsconfig.build.json']) cpSync(path.join(ROOT, entry), path.join(tree, entry), { recursive: true });
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(tree, 'node_modules'));
});

afterEach(() => rmSync(tree, { recursive: true, force: true }));

test.each([
  ['a dynamic import with a template literal', 'export const load = () => import(`kysely`);\n'],
  ['a require through createRequire', "import { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);\nexport const load = () => require('kysely');\n"],
])('%s of kysely fails the build, naming the module; dist/ is left as it was', (_form, lazy) => {
  write('src/cli/main.ts', "process.stdout.write('first');\n");
  expect(build().status).toBe(0);
  const before = readFileSync(path.join(tree, 'dist/cli/main.js'), 'utf8');

  write('src/cli/lazy.ts', lazy);
  write('src/cli/main.ts', "import { load } from './lazy.ts';\nvoid load;\nprocess.stdout.write('second');\n");
  const failed = build();
  expect(failed.status).not.toBe(0);
  expect(failed.stderr).toContain('dist/cli/lazy.js imports kysely');
  expect(readFileSync(path.join(tree, 'dist/cli/main.js'), 'utf8')).toBe(before);
  expect(existsSync(path.join(tree, 'dist/cli/lazy.js'))).toBe(false);
});
