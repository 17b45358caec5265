#!/usr/bin/env node
// Runs the compiled CLI (dist/) when it was built from the sources as they are now, and the
// TypeScript sources through tsx otherwise: a stale build never shadows the sources in a
// checkout (tests, `npm run reach-puller`), and the image, where only dist/ ships, runs it.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DIGEST_FILE, sourceDigest } from './source-digest.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const compiled = new URL('../dist/cli/main.js', import.meta.url);

if (!existsSync(new URL('../src', import.meta.url)) || builtFromTheseSources()) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}

function builtFromTheseSources() {
  const digest = new URL(`../${DIGEST_FILE}`, import.meta.url);
  return existsSync(compiled) && existsSync(digest) && readFileSync(digest, 'utf8').trim() === sourceDigest(root);
}
