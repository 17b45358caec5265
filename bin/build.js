#!/usr/bin/env node
// `npm run build` (and `prepare`, after `npm ci`): compiles src/ into a fresh dist/ and records
// the digest of the sources it compiled, taken before compiling, so an edit made while tsc runs
// leaves a digest that no longer matches and bin/reach-puller.js runs the sources instead.
// No digest is written when tsc fails (it emits anyway): such a build never replaces dist/.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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
const digestFile = path.join(root, DIGEST_FILE);
// Built beside dist/, then moved in file by file, each by rename (atomic): a CLI running from
// dist/ meanwhile (a test, a second terminal) finds every module it loads lazily at every
// moment, old or new. Fresh, so a source removed since the last build leaves no module behind.
const staging = path.join(root, `dist.building-${process.pid}`);
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
// Until the new digest is written, dist/ matches no sources: a CLI starting meanwhile runs them through tsx.
rmSync(digestFile, { force: true });
const built = filesUnder(staging);
for (const file of built) {
  mkdirSync(path.dirname(path.join(dist, file)), { recursive: true });
  renameSync(path.join(staging, file), path.join(dist, file));
}
const keep = new Set(built);
for (const file of filesUnder(dist)) if (!keep.has(file)) rmSync(path.join(dist, file), { force: true });
rmSync(staging, { recursive: true, force: true });
writeFileSync(digestFile, `${digest}\n`);

/** Files under `dir`, as paths relative to it. */
function filesUnder(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => !entry.isDirectory())
    .map((entry) => path.relative(dir, path.join(entry.parentPath ?? entry.path, entry.name)));
}
