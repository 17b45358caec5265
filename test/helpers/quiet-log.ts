/** Loggers for tests: silent unless LOG_LEVEL asks for more, or capturing lines to assert on. */
import pino, { type Logger } from 'pino';
import { createLogger } from '../../src/log.ts';

export const testLog = createLogger({ level: process.env.LOG_LEVEL ?? 'silent', pretty: false });

/** A logger that keeps every line it writes (parsed) for the test to read. */
export function captureLog(): { log: Logger; lines: () => (Record<string, unknown> & { msg: string })[] } {
  const written: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => written.push(line) });
  return { log, lines: () => written.map((l) => JSON.parse(l) as Record<string, unknown> & { msg: string }) };
}
