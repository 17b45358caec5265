/** Identity of a partner source: connectors with the same one share a pool and its cap. */
import type { Dialect } from '../interfaces.ts';

export const DEFAULT_PORTS: Record<Dialect, number> = { postgres: 5432, mysql: 3306, mssql: 1433 };

/** `dialect://user@host:port/database` (never a password). */
export function sourceIdentity(s: { dialect: Dialect; user: string; host: string; port?: number; database: string }): string {
  return `${s.dialect}://${s.user}@${s.host}:${s.port ?? DEFAULT_PORTS[s.dialect]}/${s.database}`;
}
