/** How commands print: aligned tables for people, `--json` for scripts, errors on stderr. */
import { ConfigError, PullerError } from '../errors.ts';
import { scrubSecrets } from '../secrets/secret-registry.ts';

export type Cell = string | number | boolean | null | undefined;

/** Prints rows as an aligned table with a header. */
export function printTable(rows: Record<string, Cell>[], columns: string[], out: NodeJS.WritableStream = process.stdout): void {
  const text = (v: Cell) => (v === null || v === undefined ? '-' : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => text(r[c]).length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  out.write(`${line(columns.map((c) => c.toUpperCase()))}\n`);
  for (const r of rows) out.write(`${line(columns.map((c) => text(r[c])))}\n`);
  if (rows.length === 0) out.write('(none)\n');
}

/** Prints a value as JSON on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${scrubSecrets(JSON.stringify(value, null, 2))}\n`);
}

/** Exit codes: 0 ok, 1 failure, 2 usage or configuration error. */
/** `abandoned`: a stop took longer than its bound and in-flight work was left to the next run (cli/signals.ts). */
export const EXIT = { ok: 0, failure: 1, usage: 2, abandoned: 3 } as const;

/** Prints an error for an operator and returns the exit code it deserves. */
export function reportError(error: unknown): number {
  if (error instanceof ConfigError) {
    process.stderr.write(`${scrubSecrets(error.message)}\n${error.problems.length} problem(s); nothing was changed.\n`);
    return EXIT.usage;
  }
  if (error instanceof PullerError) {
    const cause = error.cause instanceof Error ? `\n  cause: ${error.cause.message}` : '';
    process.stderr.write(scrubSecrets(`error ${error.code}: ${error.message}${cause}\n  ${error.advice}\n`));
    return EXIT.failure;
  }
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`${scrubSecrets(`unexpected error: ${message}`)}\n`);
  return EXIT.failure;
}
