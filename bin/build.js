#!/usr/bin/env node
// `npm run build` (and `prepare`, after `npm ci`): compiles src/ into a fresh dist/ and records
// the digest of the sources it compiled, taken before compiling, so an edit made while tsc runs
// leaves a digest that no longer matches and bin/reach-puller.js runs the sources instead.
// No digest is written when tsc fails (it emits anyway): such a build never replaces dist/.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DIGEST_FILE, sourceDigest } from './source-digest.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const KYSELY_BUNDLE = path.join('vendor', 'kysely.js');
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
// Kysely is bundled first, beside the staging directory: once tsc has emitted, what is left before
// dist/ is replaced is a rename and the rewrite of the imports (no bundler between compile and move-in).
const vendored = `${staging}.vendor`;
rmSync(staging, { recursive: true, force: true });
rmSync(vendored, { recursive: true, force: true });
let failed;
try {
  await bundleKysely(vendored);
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', staging], { cwd: root, stdio: 'inherit' });
} catch (error) {
  failed = error.status ?? 1;
}
if (failed === undefined) failed = pointAtKysely(staging, vendored);
rmSync(vendored, { recursive: true, force: true });
if (failed !== undefined) {
  rmSync(staging, { recursive: true, force: true });
  process.exit(failed);
}
// One build replaces dist/ at a time: the digest a build writes vouches for every file in dist/,
// so no other build may move its files in between (two builds at once, of sources before and
// after an edit, left old modules under the new digest). A lock whose build died is taken over.
const lock = path.join(root, 'dist.lock');
takeLock();
try {
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
} finally {
  rmSync(lock, { force: true });
}

/**
 * Kysely ships as some 260 ES modules: loading them was 150 ms of every command's start
 * (docs/benchmarks.md, figure 9). The build bundles them into one module, dist/vendor/kysely.js
 * (about 30 ms), and points the compiled imports of `kysely` at it. A stable name, moved in by
 * rename like every other file: a CLI started from the old build loads one or the other whole.
 */
async function bundleKysely(dir) {
  const { buildSync } = await import('esbuild');
  buildSync({
    entryPoints: [fileURLToPath(import.meta.resolve('kysely'))],
    bundle: true, format: 'esm', platform: 'node', target: 'node20', logLevel: 'warning',
    outfile: path.join(dir, KYSELY_BUNDLE),
  });
}

/**
 * Moves the bundle built by `bundleKysely` into `out` and points the compiled imports at it;
 * an import of kysely in a form this cannot rewrite fails the build (returns exit code 1).
 */
function pointAtKysely(out, dir) {
  mkdirSync(path.dirname(path.join(out, KYSELY_BUNDLE)), { recursive: true });
  renameSync(path.join(dir, KYSELY_BUNDLE), path.join(out, KYSELY_BUNDLE));
  for (const file of filesUnder(out).filter((f) => f.endsWith('.js') && f !== KYSELY_BUNDLE)) {
    const compiled = readFileSync(path.join(out, file), 'utf8');
    const bundle = path.relative(path.dirname(file), KYSELY_BUNDLE).split(path.sep).join('/');
    const rewritten = compiled.replaceAll("from 'kysely';", `from '${bundle.startsWith('.') ? bundle : `./${bundle}`}';`);
    // Any other way to reach node_modules/kysely, a template literal or a require() included, would load a second Kysely.
    if (/(from|import|require)\s*\(?\s*['"`]kysely/.test(rewritten)) {
      process.stderr.write(`build failed: dist/${file} imports kysely in a form bin/build.js does not point at dist/${KYSELY_BUNDLE}\n`);
      return 1;
    }
    if (rewritten !== compiled) writeFileSync(path.join(out, file), rewritten);
  }
  return undefined;
}

/** Waits for the lock on dist/ (a file holding the pid of the build that has it). */
function takeLock() {
  for (;;) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      return;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
    }
    let holder = 0;
    try {
      holder = Number(readFileSync(lock, 'utf8'));
    } catch {
      continue; // released meanwhile
    }
    // Empty: its build is writing its pid right now.
    if (holder > 0 && !alive(holder)) {
      // Killed while replacing dist/ (it left no digest): the lock is stale.
      if (Number(readFileSync(lock, { encoding: 'utf8', flag: 'r' })) === holder) rmSync(lock, { force: true });
      continue;
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

/** Files under `dir`, as paths relative to it. */
function filesUnder(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => !entry.isDirectory())
    .map((entry) => path.relative(dir, path.join(entry.parentPath ?? entry.path, entry.name)));
}
