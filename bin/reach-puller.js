#!/usr/bin/env node
// Runs the TypeScript sources through tsx in a checkout, and the compiled CLI where only
// dist/ ships (the Docker image), so a stale build never shadows the sources.
import { existsSync } from 'node:fs';

const sources = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(sources.href);
} else {
  await import(new URL('../dist/cli/main.js', import.meta.url).href);
}
