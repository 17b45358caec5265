import type { Command } from 'commander';
import { DEFAULT_MAX_DELETE_RATIO } from '../../engine/mass-delete-guard.ts';
import type { Finding, StreamVerification } from '../../engine/verify.ts';
import { PullerError } from '../../errors.ts';
import { withStore } from '../context.ts';
import { EXIT, printJson } from '../output.ts';

interface VerifyFlags {
  stream?: string;
  from?: string;
  to?: string;
  json?: boolean;
  repair?: boolean;
  maxRowsPerSecond?: string;
  maxDeleteRatio: string;
  allowMassDelete?: boolean;
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('Prove that what each stream delivered equals its view mapped today, and name what differs (exit 0 only when nothing does)')
    .argument('<connector>', 'connector id')
    .option('--stream <name>', 'only this stream')
    .option('--from <cursor>', 'first cursor value to compare (inclusive)')
    .option('--to <cursor>', 'last cursor value to compare (inclusive)')
    .option('--repair', 'send what is missing or stale through the normal delivery path, and hand extras to reconcile')
    .option('--max-rows-per-second <r>', 'rate cap on the view scan')
    .option('--max-delete-ratio <share>', 'reconcile guard for the extras a repair deletes', String(DEFAULT_MAX_DELETE_RATIO))
    .option('--allow-mass-delete', 'let the repair delete extras above --max-delete-ratio')
    .option('--json', 'print the reports as JSON')
    .action(async (id: string, opts: VerifyFlags) => {
      const maxRowsPerSecond = opts.maxRowsPerSecond === undefined ? undefined : Number(opts.maxRowsPerSecond);
      if (maxRowsPerSecond !== undefined && !(Number.isInteger(maxRowsPerSecond) && maxRowsPerSecond > 0)) {
        throw new PullerError('RP_CONFIG_INVALID', `--max-rows-per-second must be a positive integer (got ${opts.maxRowsPerSecond})`);
      }
      const maxDeleteRatio = Number(opts.maxDeleteRatio);
      if (!(maxDeleteRatio >= 0 && maxDeleteRatio <= 1)) {
        throw new PullerError('RP_CONFIG_INVALID', `--max-delete-ratio must be a share between 0 and 1, like 0.1 (got ${opts.maxDeleteRatio})`);
      }
      const { findStream } = await import('../../engine/stream-plan.ts');
      const { verifyConnector } = await import('../../engine/verify.ts');
      const { logger } = await import('../../log.ts');
      const { getConnector } = await import('../../store/connector-registry.ts');
      const { cancelOnSignals } = await import('../signals.ts');
      const results = await withStore(async (store) => {
        const connector = await getConnector(store.db, id);
        if (opts.stream) findStream(connector, opts.stream);
        const streams = connector.config.streams.map((s) => s.name).filter((name) => !opts.stream || name === opts.stream);
        return cancelOnSignals(
          (signal) => verifyConnector({
            store: store.db, connector, stream: opts.stream, from: opts.from, to: opts.to, repair: opts.repair,
            maxRowsPerSecond, maxDeleteRatio, allowMassDelete: opts.allowMassDelete, signal, log: logger(),
          }),
          () => streams.map((name) => `verify ${connector.id}/${name}`),
        );
      });
      if (opts.json) printJson(results);
      else for (const r of results) process.stdout.write(describe(r));
      // After a repair, what counts is what is left; the report above says what was found.
      const left = (r: StreamVerification) => r.differences > 0 && (!r.repair || r.repair.notRepairable.count > 0 || r.repair.reconcile?.error !== undefined);
      if (results.some(left)) process.exitCode = EXIT.failure;
    });
}

/** One stream's report for an operator: counts, and a few external ids per kind. */
function describe(r: StreamVerification): string {
  const lines = [
    `${r.connector}/${r.stream} (run ${r.runId}): ${r.differences === 0 ? 'in sync' : `${r.differences} difference(s)`}; ` +
      `view ${r.viewRows} row(s), ${r.delivered} record(s) delivered, ${r.rangesDiffering} of ${r.ranges} range(s) compared row by row` +
      (r.ceiling ? `, up to ${r.ceiling}` : ''),
  ];
  const kind = (name: string, f: Finding, note = '') => {
    if (f.count > 0) lines.push(`  ${name} ${f.count}${note}: ${f.examples.join(', ')}${f.count > f.examples.length ? ', ...' : ''}`);
  };
  kind('missing', r.missing);
  kind('stale', r.stale);
  kind('extra', r.extra);
  kind('quarantined', r.quarantined, ' (not a difference: see `rejects`)');
  if (r.settling > 0) lines.push(`  settling ${r.settling} (newer than the settle ceiling: the next pulls read them; not a difference)`);
  if (r.ahead > 0) lines.push(`  ahead ${r.ahead} (cursor ahead of the partner clock: check the stream's timezone; not a difference)`);
  if (r.repair) {
    const p = r.repair;
    lines.push(`  repair${p.runId ? ` (run ${p.runId})` : ''}: sent ${p.sent}, deleted ${p.deleted}, quarantined ${p.quarantined}` +
      (p.reconcile ? `; reconcile${p.reconcile.runId ? ` (run ${p.reconcile.runId})` : ''} deleted ${p.reconcile.deleted}` : ''));
    if (p.notRepairable.count > 0) {
      lines.push(`  not repairable ${p.notRepairable.count}: ${p.notRepairable.examples.join(', ')} (delivered at a newer version than the row's cursor: touch the row)`);
    }
    if (p.reconcile?.error) lines.push(`  ${p.reconcile.error}`);
  }
  return `${lines.join('\n')}\n`;
}
