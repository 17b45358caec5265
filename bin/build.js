#!/usr/bin/env node
// `npm run build` (and `prepare`, after `npm ci`): compiles src/ into a fresh dist/ and records
// the digest of the sources it compiled, taken before compiling, so an edit made while tsc runs
// leaves a digest that no longer matches and bin/reach-puller.js runs the sources instead.
// No digest is written when tsc fails (it emits anyway): such a dist/ never runs in a checkout.
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DIGEST_FILE, sourceDigest } from './source-digest.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const digest = sourceDigest(root);
// Fresh: a source removed since the last build leaves no module behind.
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
try {
  execFileSync(process.execPath, [fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url)), '-p', 'tsconfig.build.json'], {
    cwd: root, stdio: 'inherit',
  });
} catch (error) {
  process.exit(error.status ?? 1);
}
writeFileSync(new URL(`../${DIGEST_FILE}`, import.meta.url), `${digest}\n`);
