/**
 * A partner database for engine tests, per dialect: a fresh database, a read-only user
 * (`rp_ro`, SELECT only) as partners hand out, SQL helpers, and connector YAML for it.
 */
import { freshMssqlDatabase, freshMysqlDatabase, freshPgDatabase, mssqlExec, mssqlUrl, mysqlExec, pgExec, MYSQL_URL, PG_URL } from './databases.ts';
import pg from 'pg';
import mysql from 'mysql2/promise';

export type TestDialect = 'postgres' | 'mysql';
export const TEST_DIALECTS: TestDialect[] = (process.env.TEST_DIALECTS?.split(',') as TestDialect[] | undefined) ?? ['postgres', 'mysql'];
/** SQL Server partners exist only for the live SQL Server suite (where one runs: mssql-server.ts). */
export type PartnerDialect = TestDialect | 'mssql';

export const RO_USER = 'rp_ro';
export const RO_PASSWORD = 'rp-ro-Secret-4711';
process.env.RP_TEST_RO_PASSWORD = RO_PASSWORD;
// The test servers are on loopback, which the network policy refuses unless allowed, and the
// local Reach APIs speak plain http on random ports, which connectors may name only when allowed.
process.env.REACH_PULLER_ALLOW_PRIVATE_NETWORKS ??= '127.0.0.0/8,::1/128';
process.env.REACH_PULLER_REACH_URLS ??= 'http://127.0.0.1:*';
process.env.REACH_PULLER_DEV_INSECURE_REACH ??= '1';
// The tests' connectors name their passwords and tokens as ${env:RP_...}: granted to connectors.
process.env.REACH_PULLER_CONNECTOR_ENV ??= 'RP_*';

export interface Partner {
  dialect: PartnerDialect;
  database: string;
  url: string;
  /** Runs statements as the admin user. */
  exec(...statements: string[]): Promise<void>;
  /** Runs a query as the admin user and returns rows. */
  query<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  /** Grants the read-only user SELECT on everything in the database. */
  grantReadOnly(): Promise<void>;
  /** SQL for the column types the tests use. */
  types: { timestamp: string; timestampSeconds: string; bigint: string; text: string; decimal: string };
  /** SQL for "now minus n seconds" in UTC. */
  nowMinus(seconds: number): string;
  /** A connector's `source:` block (YAML) for this database. */
  sourceYaml(extra?: string): string;
}

/** Creates a fresh partner database of a dialect. */
export async function freshPartner(dialect: PartnerDialect, name: string): Promise<Partner> {
  return dialect === 'postgres' ? pgPartner(name) : dialect === 'mysql' ? mysqlPartner(name) : mssqlPartner(name);
}

async function pgPartner(name: string): Promise<Partner> {
  const url = await freshPgDatabase(name);
  await pgExec(PG_URL, `do $$ begin
      if not exists (select from pg_roles where rolname = '${RO_USER}') then
        create role ${RO_USER} login password '${RO_PASSWORD}';
      end if; end $$`).catch(ignoreDuplicate);
  const u = new URL(url);
  return {
    dialect: 'postgres', database: name, url,
    exec: (...s) => pgExec(url, ...s),
    async query<T>(sql: string) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try { return (await c.query(sql)).rows as T[]; } finally { await c.end(); }
    },
    grantReadOnly: () => pgExec(url, `grant usage on schema public to ${RO_USER}`, `grant select on all tables in schema public to ${RO_USER}`),
    types: { timestamp: 'timestamptz', timestampSeconds: 'timestamp(0)', bigint: 'bigint', text: 'text', decimal: 'numeric(14,2)' },
    nowMinus: (s) => `clock_timestamp() - interval '${s} seconds'`,
    sourceYaml: (extra = '') => `source:
  dialect: postgres
  host: ${u.hostname}
  port: ${u.port || 5432}
  database: ${name}
  user: ${RO_USER}
  password: \${env:RP_TEST_RO_PASSWORD}
  ssl: { mode: disable }
${extra}`,
  };
}

async function mysqlPartner(name: string): Promise<Partner> {
  const url = await freshMysqlDatabase(name);
  await mysqlExec(MYSQL_URL,
    `create user if not exists '${RO_USER}'@'%' identified by '${RO_PASSWORD}'`,
    `create user if not exists '${RO_USER}'@'localhost' identified by '${RO_PASSWORD}'`);
  const u = new URL(url);
  const exec = (...s: string[]) => mysqlExec(url, "set time_zone = '+00:00'", ...s);
  return {
    dialect: 'mysql', database: name, url, exec,
    async query<T>(sql: string) {
      const c = await mysql.createConnection({ uri: url, dateStrings: true, timezone: 'Z', supportBigNumbers: true, bigNumberStrings: true });
      try { return (await c.query(sql))[0] as T[]; } finally { await c.end(); }
    },
    grantReadOnly: () => mysqlExec(MYSQL_URL,
      `grant select on \`${name}\`.* to '${RO_USER}'@'%'`, `grant select on \`${name}\`.* to '${RO_USER}'@'localhost'`),
    types: { timestamp: 'datetime(6)', timestampSeconds: 'datetime', bigint: 'bigint', text: 'varchar(255)', decimal: 'decimal(14,2)' },
    nowMinus: (s) => `utc_timestamp(6) - interval ${s} second`,
    sourceYaml: (extra = '') => `source:
  dialect: mysql
  host: ${u.hostname}
  port: ${u.port || 3306}
  database: ${name}
  user: ${RO_USER}
  password: \${env:RP_TEST_RO_PASSWORD}
  ssl: { mode: disable }
${extra}`,
  };
}

async function mssqlPartner(name: string): Promise<Partner> {
  const url = await freshMssqlDatabase(name);
  // CHECK_POLICY OFF: the server's password policy is not what these tests are about.
  await mssqlExec(await mssqlUrl(), `IF SUSER_ID(N'${RO_USER}') IS NULL CREATE LOGIN [${RO_USER}] WITH PASSWORD = N'${RO_PASSWORD}', CHECK_POLICY = OFF`)
    .catch(ignoreDuplicate);
  await mssqlExec(url, `CREATE USER [${RO_USER}] FOR LOGIN [${RO_USER}]`);
  const u = new URL(url);
  return {
    dialect: 'mssql', database: name, url,
    exec: async (...s) => void (await mssqlExec(url, ...s)),
    query: <T>(sql: string) => mssqlExec<T>(url, sql),
    grantReadOnly: async () => void (await mssqlExec(url, `GRANT SELECT ON SCHEMA::dbo TO [${RO_USER}]`)),
    types: { timestamp: 'datetime2(7)', timestampSeconds: 'datetime2(0)', bigint: 'bigint', text: 'nvarchar(255)', decimal: 'decimal(14,2)' },
    nowMinus: (s) => `DATEADD(second, -${s}, SYSUTCDATETIME())`,
    sourceYaml: (extra = '') => `source:
  dialect: mssql
  host: ${u.hostname}
  port: ${u.port || 1433}
  database: ${name}
  user: ${RO_USER}
  password: \${env:RP_TEST_RO_PASSWORD}
  ssl: { mode: require }
${extra}`,
  };
}

function ignoreDuplicate(error: { code?: string; number?: number }): void {
  // Two test files creating the role (login) at once: one wins, the other sees it exists.
  if (error.code !== '23505' && error.code !== '42710' && error.number !== 15025) throw error;
}

/** The `streams:` block of a connector reading `id, email, updated_at` from view `v` into contacts. */
export function emailStreamYaml(name = 's'): string {
  return `streams:
  - name: ${name}
    view: v
    schema: contacts
    primary_key: [id]
    cursor: updated_at
    fields: { id: id, email: email }
`;
}
