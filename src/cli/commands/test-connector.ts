import type { Command } from 'commander';
import { withStore } from '../context.ts';
import { EXIT, printJson } from '../output.ts';

export function registerTest(program: Command): void {
  program
    .command('test')
    .description("Check a connector against the partner database: connect, views and columns, the user's privileges, a sample")
    .argument('<connector>', 'connector id')
    .option('--sample <n>', 'rows to sample per stream', '3')
    .option('--json', 'print as JSON')
    .action(async (id: string, opts: { sample: string; json?: boolean }) => {
      const { checkConnector } = await import('../../engine/connector-check.ts');
      const { logger } = await import('../../log.ts');
      const { getConnector } = await import('../../store/connector-registry.ts');
      const report = await withStore(async (store) => checkConnector(store.db, await getConnector(store.db, id), Number(opts.sample)));
      if (report.writePrivileges.length > 0) {
        logger().error({ connector: id, privileges: report.writePrivileges }, 'the partner credential can write: ask the partner for a SELECT-only user');
      }
      if (opts.json) printJson(report);
      else {
        process.stdout.write(`connector ${report.connector} -> ${report.source}: connected\n`);
        process.stdout.write(report.writePrivileges.length
          ? `WARNING: the user holds write privileges: ${report.writePrivileges.join(', ')}\n`
          : 'privileges: read-only\n');
        for (const s of report.streams) {
          if (!s.ok) {
            process.stdout.write(`  FAIL ${s.stream} (${s.view}): ${s.error}\n`);
            continue;
          }
          const u = s.unread!;
          const counts = `null_cursor ${u.nullCursor}, null_key ${u.nullKey}${u.futureCursor === undefined ? '' : `, future_cursor ${u.futureCursor}`}`;
          process.stdout.write(`  ok   ${s.stream} (${s.view}, ${s.cursorKind} cursor; unread rows: ${counts})\n`);
          for (const warning of s.warnings!) process.stdout.write(`       warning: ${warning}\n`);
          for (const r of s.sample!) process.stdout.write(`       ${JSON.stringify(r)}\n`);
        }
      }
      if (report.streams.some((s) => !s.ok)) process.exitCode = EXIT.failure;
    });
}
