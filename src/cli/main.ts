/** The `reach-puller` command line entry point. */
import v8 from 'node:v8';
import { main } from './program.ts';

// V8 lets the heap grow to several times what is live before it collects; the puller's
// live set is small (the pages in flight), so grow by half of it: peak RSS stays close to
// what is held, for some more CPU in garbage collection (README, Benchmarks, figure 4).
v8.setFlagsFromString('--heap-growing-percent=50');

process.exitCode = await main(process.argv.slice(2));
