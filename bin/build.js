#!/usr/bin/env node
// `npm run build` (and `prepare`, after `npm ci`): compiles src/ into a fresh dist/ and records
// the digest of the sources it compiled, taken before compiling, so an edit made while tsc runs
// leaves a digest that no longer matches and bin/reach-puller.js runs the sources instead.
// No digest is written when tsc fails (it emits anyway): such a build never replaces dist/.
import { execFileSync } from 'node:child_process';
import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DIGEST_FILE, sourceDigest } from './source-digest.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
if (!existsSync(tsc)) {
  // A production install (`npm ci --omit=dev`) has no compiler: the bin runs the sources through tsx.
  process.stderr.write('build skipped: typescript is not installed; reach-puller runs the sources through tsx\n');
  process.exit(0);
}
const digest = sourceDigest(root);
const dist = path.join(root, 'dist');
// Built beside dist/ and swapped in at the end: a CLI starting from dist/ meanwhile (a test, a
// second terminal) keeps finding every module it loads lazily. Fresh, so a source removed
// since the last build leaves no module behind.
const staging = path.join(root, `dist.building-${process.pid}`);
const previous = path.join(root, `dist.previous-${process.pid}`);
rmSync(staging, { recursive: true, force: true });
let failed;
try {
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', staging], { cwd: root, stdio: 'inherit' });
} catch (error) {
  failed = error.status ?? 1;
}
if (failed !== undefined) {
  rmSync(staging, { recursive: true, force: true });
  process.exit(failed);
}
writeFileSync(path.join(staging, path.relative('dist', DIGEST_FILE)), `${digest}\n`);
if (existsSync(dist)) renameSync(dist, previous);
renameSync(staging, dist);
rmSync(previous, { recursive: true, force: true });
