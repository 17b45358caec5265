/** The `reach-puller` command line entry point. */
import { main } from './program.ts';

process.exitCode = await main(process.argv.slice(2));
