import type { Command } from 'commander';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('Run the whole job on this machine with an embedded partner database, explaining each step (under a minute)')
    .option('--reach-api', 'deliver into a local Reach API started in this process instead of the built-in store')
    .action(async (opts: { reachApi?: boolean }) => {
      const { runDemo } = await import('../../demo/run-demo.ts');
      await runDemo({ reachApi: opts.reachApi });
    });
}
