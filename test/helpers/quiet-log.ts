/** A logger for tests: silent unless LOG_LEVEL asks for more. */
import { createLogger } from '../../src/log.ts';

export const testLog = createLogger({ level: process.env.LOG_LEVEL ?? 'silent', pretty: false });
