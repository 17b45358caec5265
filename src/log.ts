/**
 * The process logger: pino JSON lines on stderr (pretty on a TTY), level from LOG_LEVEL.
 * Child loggers carry tenant / connector / stream / run ids. Password and token fields
 * are redacted by path, and every known secret value is scrubbed from every line.
 */
import pino, { type Logger } from 'pino';
import { scrubSecrets } from './secrets/secret-registry.ts';

export type { Logger };

const REDACT_PATHS = [
  'password', '*.password', '*.*.password', 'token', '*.token', '*.*.token',
  'authorization', '*.authorization', 'headers.authorization', 'connectionString', '*.connectionString',
];

/** Creates the root logger. */
export function createLogger(options: { level?: string; pretty?: boolean } = {}): Logger {
  const level = options.level ?? process.env.LOG_LEVEL ?? 'info';
  const pretty = options.pretty ?? Boolean(process.stderr.isTTY);
  const destination = pretty
    ? pino.transport({ target: 'pino-pretty', options: { destination: 2, colorize: true } })
    : pino.destination({ fd: 2, sync: true });
  return pino(
    {
      level,
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      hooks: {
        // Scrub after serialisation so nested errors and messages are covered too.
        streamWrite: (line) => scrubSecrets(line),
      },
      base: { service: 'reach-puller' },
    },
    destination,
  );
}

let root: Logger | undefined;

/** The process-wide logger, created on first use. */
export function logger(): Logger {
  root ??= createLogger();
  return root;
}
