import type { Command } from 'commander';
import { DEFAULT_MAX_DELETE_RATIO } from '../../engine/mass-delete-guard.ts';
import { PullerError } from '../../errors.ts';
import { withStore } from '../context.ts';
import { printJson } from '../output.ts';

export function registerReconcile(program: Command): void {
  program
    .command('reconcile')
    .description('Delete in Reach the records whose rows are no longer in the view (hard deletes), with a mass-delete guard')
    .argument('<connector>', 'connector id')
    .requiredOption('--stream <name>', 'the stream')
    .option('--max-delete-ratio <share>', 'refuse when more than this share of delivered records would go', String(DEFAULT_MAX_DELETE_RATIO))
    .option('--allow-mass-delete', 'delete even when the share is above --max-delete-ratio')
    .option('--dry-run', 'report what would be deleted; change nothing')
    .option('--json', 'print the summary as JSON')
    .action(async (id: string, opts: { stream: string; maxDeleteRatio: string; allowMassDelete?: boolean; dryRun?: boolean; json?: boolean }) => {
      const maxDeleteRatio = Number(opts.maxDeleteRatio);
      if (!(maxDeleteRatio >= 0 && maxDeleteRatio <= 1)) {
        throw new PullerError('RP_CONFIG_INVALID', `--max-delete-ratio must be a share between 0 and 1, like 0.1 (got ${opts.maxDeleteRatio})`);
      }
      const { reconcileStream } = await import('../../engine/reconcile.ts');
      const { logger } = await import('../../log.ts');
      const { getConnector } = await import('../../store/connector-registry.ts');
      const summary = await withStore(async (store) => reconcileStream({
        store: store.db, connector: await getConnector(store.db, id), stream: opts.stream, log: logger(),
        maxDeleteRatio, allowMassDelete: opts.allowMassDelete, dryRun: opts.dryRun,
      }));
      if (opts.json) {
        printJson(summary);
        return;
      }
      const out = process.stdout;
      out.write(`${id}/${summary.stream}: view holds ${summary.viewRows} row(s), ${summary.delivered} record(s) delivered, ${summary.missing.length} missing\n`);
      if (summary.nullCursorRows > 0) out.write(`  ${summary.nullCursorRows} row(s) with a NULL cursor are invisible to reconcile, as to pulls\n`);
      if (summary.unmappedRows > 0) out.write(`  ${summary.unmappedRows} row(s) have an external id that cannot be mapped\n`);
      for (const externalId of summary.missing.slice(0, 20)) out.write(`  - ${externalId}\n`);
      if (summary.missing.length > 20) out.write(`  ... and ${summary.missing.length - 20} more (--json lists all)\n`);
      if (summary.guardTripped) out.write('  more than --max-delete-ratio: a real run would refuse without --allow-mass-delete\n');
      out.write(summary.dryRun ? 'dry run: nothing deleted\n' : `deleted ${summary.deleted}\n`);
    });
}
