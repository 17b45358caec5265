/** The `reach-puller` command line entry point. */
import v8 from 'node:v8';
import { main } from './program.ts';

// V8 lets the heap grow to several times what is live before it collects; the puller's
// live set is small (the pages in flight), so grow by half of it: peak RSS stays close to
// what is held, for some more CPU in garbage collection (docs/benchmarks.md, figure 4).
v8.setFlagsFromString('--heap-growing-percent=50');
// PGlite (the embedded store) boots PostgreSQL in WebAssembly, and V8 recompiled the code that
// runs once at boot with its optimizing compiler on the other core: 100 times V8's tier-up budget
// leaves that to code that stays hot (a pull, a backfill). `status` on the embedded store: about
// half the CPU and 60 MB less peak RSS (docs/benchmarks.md, figure 9).
v8.setFlagsFromString('--wasm-tiering-budget=180000000');
// Commands that only read or register a few rows end before PGlite's code could pay back an
// optimizing compile, and the process waited at exit for the compiles begun: they run its
// baseline code only (`status` on the embedded store 0.69 -> 0.52 s). Commands that move rows
// keep the optimizing tier: a backfill into the embedded store ran 23 % slower without it.
const BRIEF_COMMANDS = new Set(['status', 'runs', 'rejects', 'connectors', 'backfills', 'apply', 'migrate', 'secret', 'unpark', 'resources']);
if (BRIEF_COMMANDS.has(process.argv[2] ?? '')) v8.setFlagsFromString('--liftoff-only');

process.exitCode = await main(process.argv.slice(2));
