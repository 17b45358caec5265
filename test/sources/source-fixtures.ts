/**
 * Shared by the source tests: settings for the local test servers, column types and
 * generated series per dialect. Databases come from the lab (test/fixture.ts).
 */
import { expect } from 'vitest';
import type { Dialect, Position } from '../../src/interfaces.ts';
import type { ConnectionSettings } from '../../src/sources/connection-settings.ts';
import type { ReadSpec, Source } from '../../src/sources/source.ts';
import { ALLOW_PRIVATE_ENV, networkPolicy } from '../../src/security/network-policy.ts';
import type { PartnerDialect } from '../helpers/partner.ts';

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
export function series(dialect: PartnerDialect, n: number): string {
  if (dialect === 'postgres') return `generate_series(1, ${n}) as s(g)`;
  if (dialect === 'mysql') return `(select seq as g from seq_1_to_${n}) as s`;
  // GENERATE_SERIES is SQL Server 2022 only; a numbered cross join works on every version. int, as DATEADD wants.
  return `(SELECT TOP (${n}) CAST(ROW_NUMBER() OVER (ORDER BY (SELECT NULL)) AS int) AS g FROM sys.all_objects a CROSS JOIN sys.all_objects b) AS s`;
}

/** Reads a whole stream page by page, one read session per page, as the engine does. */
export async function readAll(source: Source, spec: ReadSpec, limit: number, upTo?: string) {
  const rows: Record<string, unknown>[] = [];
  const positions: Position[] = [];
  let after: Position | undefined;
  for (;;) {
    const page = await source.withReadSession((s) => s.readPage(spec, { after, upTo, limit }));
    expect(page.rows.length).toBeLessThanOrEqual(limit);
    rows.push(...page.rows);
    positions.push(...page.positions);
    if (page.rows.length < limit) return { rows, positions };
    after = page.positions.at(-1);
  }
}
