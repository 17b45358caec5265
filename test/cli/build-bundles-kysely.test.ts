/**
 * bin/build.js bundles Kysely (some 260 ES modules, 150 ms of every command's start) into one
 * module, dist/vendor/kysely.js, and points the compiled imports of `kysely` at it. Checked on a
 * small tree of its own built with the real compiler and bundler: what dist/ runs must not
 * need node_modules/kysely, and an import the build cannot point at the bundle (a dynamic
 * import, with a template literal too, or a require: review) fails it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
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
  tree = mkdtempSync(path.join(tmpdir(), 'rp-build-kysely-'));
  for (const entry of ['bin', 'package.json', 'tsconfig.json', 'tsconfig.build.json']) cpSync(path.join(ROOT, entry), path.join(tree, entry), { recursive: true });
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(tree, 'node_modules'));
});

afterEach(() => rmSync(tree, { recursive: true, force: true }));

test('compiled modules at any depth run on the one bundled Kysely, without node_modules/kysely', () => {
  // A statement compiled by Kysely in a module two directories down, imported by the entry.
  write('src/store/deep/statement.ts', [
    "import { sql, PostgresQueryCompiler } from 'kysely';",
    'export const compiled = (id: string) => sql`select * from resources where external_id = ${id}`.compile({',
    '  getExecutor: () => ({ compileQuery: (node: never) => new PostgresQueryCompiler().compileQuery(node, { queryId: \'q\' } as never), transformQuery: (node: never) => node }),',
    '} as never);',
    '',
  ].join('\n'));
  write('src/cli/main.ts', [
    "import { sql } from 'kysely';",
    "import { compiled } from '../store/deep/statement.ts';",
    'const { sql: text, parameters } = compiled(\'c-1\');',
    'process.stdout.write(JSON.stringify({ text, parameters, raw: typeof sql.raw }));',
    '',
  ].join('\n'));
  const built = build();
  expect(built.status, built.stderr).toBe(0);
  expect(existsSync(path.join(tree, 'dist/vendor/kysely.js'))).toBe(true);
  expect(readFileSync(path.join(tree, 'dist/cli/main.js'), 'utf8')).toContain("from '../vendor/kysely.js'");
  expect(readFileSync(path.join(tree, 'dist/store/deep/statement.js'), 'utf8')).toContain("from '../../vendor/kysely.js'");

  // No node_modules at all: whatever the compiled CLI loads of Kysely comes from dist/.
  unlinkSync(path.join(tree, 'node_modules'));
  const out = execFileSync(process.execPath, [path.join(tree, 'dist/cli/main.js')], { encoding: 'utf8' });
  expect(JSON.parse(out)).toEqual({ text: 'select * from resources where external_id = $1', parameters: ['c-1'], raw: 'function' });
});

test.each([
  ['a dynamic import', "export const load = () => import('kysely');\n"],
  ['a dynamic import with a template literal', 'export const load = () => import(`kysely`);\n'],
  ['a require through createRequire', "import { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);\nexport const load = () => require('kysely');\n"],
])('%s of Kysely, which the build cannot point at the bundle, fails the build, naming the module; dist/ is left as it was', (_form, lazy) => {
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
