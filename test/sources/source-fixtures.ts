/**
 * Shared by the source tests: settings for the local test servers, column types and
 * generated series per dialect. Databases come from the lab (test/fixture.ts).
 */
import type { Dialect } from '../../src/interfaces.ts';
import type { ConnectionSettings } from '../../src/sources/connection-settings.ts';
import { ALLOW_PRIVATE_ENV, networkPolicy } from '../../src/security/network-policy.ts';
import type { TestDialect } from '../helpers/partner.ts';

/** Settings for a database URL; TLS off because the local servers have none. */
export function settingsFor(dialect: Dialect, url: string, overrides: Partial<ConnectionSettings> = {}): ConnectionSettings {
  const u = new URL(url);
  return {
    dialect,
    host: u.hostname,
    port: Number(u.port),
    database: decodeURIComponent(u.pathname.slice(1)),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    timezone: 'UTC',
    ssl: { mode: 'disable' },
    maxConnections: 2,
    statementTimeoutSeconds: 30,
    connectTimeoutSeconds: 15,
    passwordAuth: ['challenge'],
    networkPolicy: networkPolicy({ [ALLOW_PRIVATE_ENV]: '127.0.0.0/8' }),
    ...overrides,
  };
}

/** Column types per dialect for the same test tables. */
export const TYPES = {
  postgres: { instant: 'timestamptz', local: 'timestamp', text: 'text', json: 'jsonb', decimal: 'numeric(30,6)' },
  mysql: { instant: 'timestamp(6) null default null', local: 'datetime(6)', text: 'varchar(200)', json: 'json', decimal: 'decimal(30,6)' },
} as const;

/** `n` generated integers 1..n as a FROM clause producing column `g`. */
export function series(dialect: TestDialect, n: number): string {
  return dialect === 'postgres' ? `generate_series(1, ${n}) as s(g)` : `(select seq as g from seq_1_to_${n}) as s`;
}
