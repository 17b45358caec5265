// What the compiled CLI (dist/) is built from: every file under src/ and the tsconfig files,
// by path and content. `npm run build` stores it in dist/ and bin/reach-puller.js compares it,
// so dist/ runs only while it matches the sources; contents, not mtimes, so a source copied
// in with an old time (tar, rsync -a, cp -p) is still seen (about 6 ms for ~140 files).
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const DIGEST_FILE = 'dist/.source-digest';
const CONFIGS = ['tsconfig.json', 'tsconfig.build.json'];

/** The hex digest of the sources under `root` (a directory path). */
export function sourceDigest(root) {
  const files = readdirSync(path.join(root, 'src'), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    // `parentPath` from Node 20.12; `path` before it.
    .map((entry) => path.relative(root, path.join(entry.parentPath ?? entry.path, entry.name)))
    .sort();
  const hash = createHash('sha256');
  for (const file of [...CONFIGS.filter((f) => existsSync(path.join(root, f))), ...files]) {
    hash.update(`${file}\0`).update(readFileSync(path.join(root, file))).update('\0');
  }
  return hash.digest('hex');
}
