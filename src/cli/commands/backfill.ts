import type { Command } from 'commander';
import type CliProgress from 'cli-progress';
import type { BackfillProgress } from '../../backfill/backfill-progress.ts';
import type { BackfillHandle, LiveProgress } from '../../backfill/run-backfill.ts';
import { ConfigError } from '../../errors.ts';
import { withStore } from '../context.ts';
import { BACKFILLS_LIST } from '../../store/keyset-page.ts';
import { EXIT, printJson, printTable } from '../output.ts';
import { cliPageRequest, pageOptions, printNextPage, type PageOptions } from '../paging.ts';

interface BackfillOptions extends PageOptions {
  stream?: string;
  from?: string;
  to?: string;
  chunks?: string;
  maxRowsPerSecond?: string;
  checkpointRows?: string;
  resume?: string | true;
  cancel?: string;
  json?: boolean;
}

const COLUMNS = ['id', 'connector', 'stream', 'state', 'rows', 'estimated', 'percent', 'rate', 'eta', 'chunks', 'range', 'error'];

export function registerBackfill(program: Command): void {
  program
    .command('backfill')
    .description('Backfill a stream\'s history in parallel chunks, resumably (`backfill list` shows them)')
    .argument('[connector]', 'connector id, or `list`')
    .option('--stream <name>', 'the stream (required when the connector has several)')
    .option('--from <cursor>', 'first cursor value to read, inclusive (2024-01-01, 2024-01-01T10:00:00Z, 1200)')
    .option('--to <cursor>', 'last cursor value to read, inclusive')
    .option('--chunks <n>', 'split the range into n chunks (default: the parallelism max_connections allows)')
    .option('--max-rows-per-second <r>', 'cap the read rate over all chunks')
    .option('--checkpoint-rows <n>', 'rows per scan page and checkpoint (default 5000)')
    .option('--resume [id]', 'continue a backfill (default: every interrupted or failed one)')
    .option('--cancel <id>', 'stop a running backfill after its current pages')
    .option('--limit <n>', 'with `list`: rows per page, 1 to 1000 (default 100)')
    .option('--after <cursor>', 'with `list`: start after this cursor, the "next" of the previous page')
    .option('--json', 'print JSON')
    .action(async (connector: string | undefined, opts: BackfillOptions) => {
      if (connector === 'list') return list(opts);
      if (opts.limit !== undefined || opts.after !== undefined) {
        throw new ConfigError([{ path: opts.limit !== undefined ? '--limit' : '--after', message: 'pages only `backfill list`' }]);
      }
      const { cancelBackfill, resumableBackfills, resumeBackfill, startBackfill } = await import('../../backfill/run-backfill.ts');
      const { logger } = await import('../../log.ts');
      const { cancelOnSignals } = await import('../signals.ts');
      if (opts.cancel) {
        const progress = await withStore((store) => cancelBackfill(store.db, opts.cancel!));
        return print([progress], opts);
      }
      const results = await withStore((store) => cancelOnSignals(async (signal) => {
        const deps = { store: store.db, log: logger(), signal };
        if (opts.resume !== undefined) {
          const ids = opts.resume === true ? await resumableBackfills(store.db) : [opts.resume];
          const out: BackfillProgress[] = [];
          for (const id of ids) out.push(await follow((onProgress) => resumeBackfill({ ...deps, onProgress }, id)));
          return out;
        }
        if (!connector) throw new ConfigError([{ path: 'connector', message: 'name a connector, or use --resume, --cancel <id> or `backfill list`' }]);
        return [await follow((onProgress) => startBackfill({ ...deps, onProgress }, {
          connector, stream: opts.stream, from: opts.from, to: opts.to,
          chunks: count(opts.chunks), maxRowsPerSecond: count(opts.maxRowsPerSecond), checkpointRows: count(opts.checkpointRows),
        }))];
      }, () => [opts.resume !== undefined ? `backfill --resume ${opts.resume === true ? '(all interrupted)' : opts.resume}` : `backfill ${connector ?? ''}`]));
      print(results, opts);
      if (results.some((r) => r.state !== 'succeeded')) process.exitCode = EXIT.failure;
    });

  pageOptions(program
    .command('backfills')
    .description('List backfills with their state and progress, newest first, a page at a time (same as `backfill list`)'))
    .option('--json', 'print the page as JSON: { items, next }')
    .action((opts: BackfillOptions) => list(opts));
}

async function list(opts: BackfillOptions): Promise<void> {
  const request = cliPageRequest(BACKFILLS_LIST, opts);
  const { listBackfillPage } = await import('../../backfill/backfill-progress.ts');
  const page = await withStore((store) => listBackfillPage(store.db, request), 'GET /backfills');
  if (opts.json) return printJson(page);
  print(page.items, opts);
  printNextPage(page.next, ['backfill', 'list'], opts);
}

function count(text: string | undefined): number | undefined {
  return text === undefined ? undefined : Number(text);
}

/** Starts (or resumes) a backfill with a progress display and waits for its end. */
async function follow(begin: (onProgress: (p: LiveProgress) => void) => Promise<BackfillHandle>): Promise<BackfillProgress> {
  const display = progressDisplay(process.stderr, (await import('cli-progress')).default);
  try {
    return await (await begin(display.update)).done;
  } finally {
    display.stop();
  }
}

/** A cli-progress bar on a terminal; a plain line every few seconds otherwise (logs, CI). */
function progressDisplay(out: NodeJS.WriteStream, cliProgress: typeof CliProgress): { update: (p: LiveProgress) => void; stop: () => void } {
  if (out.isTTY) {
    const bar = new cliProgress.SingleBar({
      stream: out,
      format: 'backfill {id} [{bar}] {percentage}% | {value}/{total} rows | {rate} rows/s | ETA {eta_text}',
      hideCursor: true,
    }, cliProgress.Presets.shades_classic);
    let started = false;
    return {
      update(p) {
        const payload = { id: p.id, rate: Math.round(p.rowsPerSecond), eta_text: formatEta(p.etaSeconds) };
        if (!started) bar.start(p.rowsEstimated, p.rowsDone, payload);
        started = true;
        bar.setTotal(p.rowsEstimated);
        bar.update(p.rowsDone, payload);
      },
      stop: () => started && bar.stop(),
    };
  }
  let lastLine = 0;
  let last: LiveProgress | undefined;
  const line = (p: LiveProgress) => {
    const percent = p.rowsEstimated > 0 ? Math.floor((p.rowsDone / p.rowsEstimated) * 100) : 0;
    out.write(`backfill ${p.id}: ${p.rowsDone}/${p.rowsEstimated} rows (${percent} %), ${Math.round(p.rowsPerSecond)} rows/s, ETA ${formatEta(p.etaSeconds)}\n`);
    lastLine = performance.now();
  };
  return {
    update(p) {
      last = p;
      if (performance.now() - lastLine >= 5000) line(p);
    },
    stop: () => last && line(last),
  };
}

function formatEta(seconds: number | undefined): string {
  if (seconds === undefined) return '-';
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

function print(rows: BackfillProgress[], opts: BackfillOptions): void {
  if (opts.json) return printJson(rows);
  printTable(rows.map((p) => ({
    id: p.id, connector: p.connector, stream: p.stream, state: p.state, rows: p.rowsDone, estimated: p.rowsEstimated,
    percent: `${p.percent.toFixed(0)} %`, rate: `${p.rowsPerSecond}/s`, eta: p.etaSeconds === undefined ? undefined : formatEta(p.etaSeconds),
    chunks: `${p.chunks.succeeded}/${p.chunks.total}`, range: p.from || p.to ? `${p.from ?? '…'} .. ${p.to ?? '…'}` : 'all',
    error: p.error,
  })), COLUMNS);
}
