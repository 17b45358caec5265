/**
 * Paging of the list commands (`runs`, `rejects`, `backfill list`): `--limit` and `--after`
 * in, and under the table the command line that shows the next page (store/keyset-page.ts).
 */
import type { Command } from 'commander';
import { CLI_PAGE_PARAMETERS, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, pageRequest, type KeysetList, type PageRequest } from '../store/keyset-page.ts';

export interface PageOptions {
  limit?: string;
  after?: string;
}

/** Adds `--limit` and `--after` to a list command. */
export function pageOptions(command: Command): Command {
  return command
    .option('--limit <n>', `rows per page, 1 to ${PAGE_LIMIT_MAX} (default ${PAGE_LIMIT_DEFAULT})`)
    .option('--after <cursor>', 'start after this cursor: the "next" of the previous page');
}

/** The page asked for, validated; RP_CONFIG_INVALID names --limit or --after. */
export function cliPageRequest(list: KeysetList, opts: PageOptions): PageRequest {
  return pageRequest(list, { limit: opts.limit, cursor: opts.after }, CLI_PAGE_PARAMETERS);
}

/** Under a table: how to get the next page, or nothing on the last one. */
export function printNextPage(next: string | undefined, command: string[], opts: PageOptions, out: NodeJS.WritableStream = process.stdout): void {
  if (next === undefined) return;
  const limit = opts.limit === undefined ? [] : ['--limit', opts.limit];
  out.write(`more rows: reach-puller ${[...command, ...limit, '--after', next].join(' ')}\n`);
}
