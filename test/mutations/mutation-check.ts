/**
 * `npm run mutations [-- name-or-part ...]`: removes each guard in mutations.ts from a copy of
 * the working tree, runs the test files meant to catch it, and reports which tests failed.
 * Every mutation must be caught; one whose text is no longer in its file is reported too.
 * The copy (under the system temp directory) leaves this checkout untouched, so the check
 * can run beside other work; it shares node_modules and the local database servers.
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MUTATIONS, type Mutation } from './mutations.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const COPIED = ['bin', 'src', 'test', 'bench', 'migrations', 'connectors', 'package.json', 'tsconfig.json', 'tsconfig.build.json', 'vitest.config.ts'];

interface Outcome {
  mutation: Mutation;
  verdict: 'caught' | 'survived' | 'does not apply';
  failed: string[];
  seconds: number;
}

function copyTree(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'rp-mutants-'));
  for (const entry of COPIED) cpSync(path.join(ROOT, entry), path.join(dir, entry), { recursive: true });
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

/** Runs vitest on the files; resolves with the names of the failed tests (none: survived). */
function runTests(dir: string, m: Mutation): Promise<{ code: number | null; failed: string[]; out: string }> {
  const args = ['vitest', 'run', ...m.tests, ...(m.only ? ['-t', m.only] : [])];
  return new Promise((resolve) => {
    const child = spawn('npx', args, { cwd: dir, env: { ...withoutColor(process.env), NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => {
      out = out.replace(ANSI, '');
      const failed = [...new Set(out.split('\n').filter((l) => /^\s*(×|FAIL)\s/.test(l)).map((l) => l.trim().replace(/\s+\d+ms$/, '')))];
      resolve({ code, failed, out });
    });
  });
}

// Colour codes, in case a reporter prints them anyway.
const ANSI = /\x1b\[[0-9;]*m/g;

function withoutColor(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { FORCE_COLOR: _forced, ...rest } = env;
  return rest;
}

async function check(dir: string, m: Mutation): Promise<Outcome> {
  const file = path.join(dir, m.file);
  const original = readFileSync(file, 'utf8');
  const started = performance.now();
  const occurrences = original.split(m.find).length - 1;
  if (occurrences !== 1) return { mutation: m, verdict: 'does not apply', failed: [`found ${occurrences} time(s) in ${m.file}`], seconds: 0 };
  writeFileSync(file, original.replace(m.find, m.replace));
  try {
    const { code, failed } = await runTests(dir, m);
    const caught = code !== 0;
    return { mutation: m, verdict: caught ? 'caught' : 'survived', failed: caught && failed.length === 0 ? [`vitest exited ${code}`] : failed, seconds: (performance.now() - started) / 1000 };
  } finally {
    writeFileSync(file, original);
  }
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const chosen = wanted.length === 0 ? MUTATIONS : MUTATIONS.filter((m) => wanted.some((w) => m.name.includes(w)));
  if (chosen.length === 0) throw new Error(`no mutation matches ${wanted.join(', ')}; names: ${MUTATIONS.map((m) => m.name).join(', ')}`);
  const dir = copyTree();
  const outcomes: Outcome[] = [];
  try {
    // A clean copy must pass first, or a "caught" would prove nothing.
    const files = [...new Set(chosen.flatMap((m) => m.tests))];
    process.stdout.write(`baseline: ${files.length} test file(s) on the unmutated copy\n`);
    const baseline = await runTests(dir, { name: 'baseline', breaks: '', file: '', find: '', replace: '', tests: files });
    if (baseline.code !== 0) throw new Error(`the unmutated copy fails: ${baseline.failed.join('; ')}\n${baseline.out.slice(-3000)}`);
    for (const m of chosen) {
      const outcome = await check(dir, m);
      outcomes.push(outcome);
      process.stdout.write(`${outcome.verdict.padEnd(14)} ${m.name.padEnd(28)} ${outcome.seconds.toFixed(0).padStart(4)} s  ${outcome.failed.slice(0, 3).join(' | ')}\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const bad = outcomes.filter((o) => o.verdict !== 'caught');
  process.stdout.write(`\n${outcomes.length - bad.length} of ${outcomes.length} mutation(s) caught` +
    (bad.length > 0 ? `; not caught: ${bad.map((o) => `${o.mutation.name} (${o.verdict}: ${o.mutation.breaks})`).join('; ')}` : '') + '\n');
  // A run of some mutations updates theirs and keeps the others' last outcome, each with its date and commit.
  const file = path.join(ROOT, 'bench/results/mutations-latest.json');
  const at = new Date().toISOString();
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
  const earlier = new Map<string, unknown>(existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { outcomes: { name: string }[] }).outcomes.map((o) => [o.name, o]) : []);
  for (const o of outcomes) earlier.set(o.mutation.name, { name: o.mutation.name, verdict: o.verdict, failed: o.failed, seconds: Math.round(o.seconds), at, commit });
  const kept = MUTATIONS.filter((m) => earlier.has(m.name)).map((m) => earlier.get(m.name));
  writeFileSync(file, `${JSON.stringify({ updated: at, outcomes: kept }, null, 2)}\n`);
  if (bad.length > 0) process.exitCode = 1;
}

await main();
