// What the compiled CLI (dist/) is built from: every file under src/ (through symlinks), package.json and the tsconfig files,
// by path and content. `npm run build` stores it in dist/ and bin/reach-puller.js compares it,
// so dist/ runs only while it matches the sources; contents, not mtimes, so a source copied
// in with an old time (tar, rsync -a, cp -p) is still seen (about 6 ms for ~140 files).
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';

export const DIGEST_FILE = 'dist/.source-digest';
// package.json too: its "type" changes what tsc emits.
const CONFIGS = ['package.json', 'tsconfig.json', 'tsconfig.build.json'];

/** The hex digest of the sources under `root` (a directory path). */
export function sourceDigest(root) {
  const files = [];
  sourceFiles(root, 'src', new Set(), files);
  const hash = createHash('sha256');
  for (const file of [...CONFIGS.filter((f) => existsSync(path.join(root, f))), ...files.sort()]) {
    hash.update(`${file}\0`).update(readFileSync(path.join(root, file))).update('\0');
  }
  return hash.digest('hex');
}

/** Files under `dir` (relative to `root`), through symlinks as tsc follows them; each real directory once. */
function sourceFiles(root, dir, seen, out) {
  const real = realpathSync(path.join(root, dir));
  if (seen.has(real)) return;
  seen.add(real);
  for (const name of readdirSync(path.join(root, dir))) {
    const file = path.join(dir, name);
    let stat;
    try {
      stat = statSync(path.join(root, file));
    } catch {
      continue; // a dangling link: nothing tsc could compile
    }
    if (stat.isDirectory()) sourceFiles(root, file, seen, out);
    else if (stat.isFile()) out.push(file);
  }
}
