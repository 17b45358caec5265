import type { Command } from 'commander';
import { withStore } from '../context.ts';
import { EXIT, printJson } from '../output.ts';
import { unreadHints, type UnreadCounts } from '../unread-rows.ts';

interface StreamCheck {
  stream: string;
  view: string;
  ok: boolean;
  cursorKind?: string;
  /** Rows a pull would count and not read (futureCursor absent for integer cursors). */
  unread?: UnreadCounts;
  /** What the non-zero counts mean; a warning, the check still passes. */
  warnings?: string[];
  sample?: unknown[];
  error?: string;
}

export function registerTest(program: Command): void {
  program
    .command('test')
    .description("Check a connector against the partner database: connect, views and columns, the user's privileges, a sample")
    .argument('<connector>', 'connector id')
    .option('--sample <n>', 'rows to sample per stream', '3')
    .option('--json', 'print as JSON')
    .action(async (id: string, opts: { sample: string; json?: boolean }) => {
      const { openConnectorSource, storeRuntime } = await import('../../engine/connector-runtime.ts');
      const { planStream } = await import('../../engine/stream-plan.ts');
      const { futureBound } = await import('../../engine/watermark.ts');
      const { logger } = await import('../../log.ts');
      const { getConnector } = await import('../../store/connector-registry.ts');
      const { loadSchemaCatalog } = await import('../../store/schema-registry.ts');
      const { describeError } = await import('../../store/run-records.ts');
      const report = await withStore(async (store) => {
        const connector = await getConnector(store.db, id);
        const source = await openConnectorSource(connector.config, storeRuntime(store.db));
        try {
          const schemas = await loadSchemaCatalog(store.db);
          const privileges = await source.inspectPrivileges();
          const streams: StreamCheck[] = [];
          for (const stream of connector.config.streams) {
            try {
              const plan = await planStream(source, connector, stream, schemas);
              // Counted as a pull counts them, in the sample's read-only transaction and against its partner clock.
              const { page, unread } = await source.withReadSession(async (s) => {
                const { nullCursor, nullKey } = await s.countUnpositioned(plan.spec);
                const bound = futureBound(plan.cursorKind, await s.clockUtc(), plan.settleSeconds, plan.timezone);
                const futureCursor = bound === undefined ? undefined : await s.countAfter(plan.spec, bound);
                const unread: UnreadCounts = { nullCursor, nullKey, ...(futureCursor === undefined ? {} : { futureCursor }) };
                return { page: await s.readPage(plan.spec, { limit: Number(opts.sample) }), unread };
              });
              const sample = page.rows.map((row) => {
                try {
                  return plan.mapper.mapRow(row).record;
                } catch (error) {
                  return { error: describeError(error) };
                }
              });
              streams.push({ stream: stream.name, view: stream.view, ok: true, cursorKind: plan.cursorKind, unread, warnings: unreadHints(unread), sample });
            } catch (error) {
              streams.push({ stream: stream.name, view: stream.view, ok: false, error: describeError(error) });
            }
          }
          return { connector: id, source: connector.sourceId, writePrivileges: privileges.writePrivileges, streams };
        } finally {
          await source.close();
        }
      });
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
