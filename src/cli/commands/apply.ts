import type { Command } from 'commander';
import { withStore } from '../context.ts';
import { printJson } from '../output.ts';

export function registerApply(program: Command): void {
  program
    .command('apply')
    .description('Validate connector files and register them, all or nothing')
    .argument('<paths...>', 'connector files or directories of *.yaml')
    .option('--dry-run', 'validate only; register nothing')
    .option('--json', 'print the result as JSON')
    .action(async (paths: string[], opts: { dryRun?: boolean; json?: boolean }) => {
      const { applyConnectors } = await import('../../config/apply-connectors.ts');
      const { loadConnectors } = await import('../../config/load-connectors.ts');
      const connectors = await loadConnectors(paths);
      const { result, warnings } = await withStore((store) => applyConnectors(store.db, connectors, { paths, dryRun: opts.dryRun }));
      for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
      if (!result) {
        const ids = connectors.map((c) => c.id);
        if (opts.json) printJson({ valid: ids });
        else process.stdout.write(`${ids.length} connector file(s) valid: ${ids.join(', ')} (dry run: nothing registered)\n`);
        return;
      }
      if (opts.json) printJson(result);
      else {
        process.stdout.write(`created ${result.created.length}, updated ${result.updated.length}, unchanged ${result.unchanged.length}\n`);
        for (const id of result.created) process.stdout.write(`  + ${id}\n`);
        for (const id of result.updated) process.stdout.write(`  ~ ${id}\n`);
      }
    });
}
