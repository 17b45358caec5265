/**
 * The real database servers tests run on, and creating and dropping their databases: the
 * fixture (test/fixture.ts) names each database for its file and this run of the suite.
 * PG_URL / MYSQL_URL point at the servers (defaults: the local ones); MSSQL_URL (see mssql-server.ts) enables
 * live SQL Server tests.
 */
import knex, { type Knex } from 'knex';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { resolveMssqlServer } from './mssql-server.ts';

export const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Drops and creates a PostgreSQL database; returns its URL. */
export async function freshPgDatabase(name: string): Promise<string> {
  const client = new pg.Client({ connectionString: PG_URL });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `PostgreSQL is not reachable at ${PG_URL}. Start it with ` +
        "`pg_ctlcluster --skip-systemctl-redirect 15 main start` or set PG_URL.",
      { cause: error },
    );
  }
  try {
    await client.query(`drop database if exists "${name}" with (force)`);
    await client.query(`create database "${name}"`);
  } finally {
    await client.end();
  }
  return withDatabase(PG_URL, name);
}

/** Drops and creates a MariaDB/MySQL database; returns its URL. */
export async function freshMysqlDatabase(name: string): Promise<string> {
  let conn: mysql.Connection;
  try {
    conn = await mysql.createConnection({ uri: MYSQL_URL });
  } catch (error) {
    throw new Error(
      `MariaDB is not reachable at ${MYSQL_URL}. Start it with ` +
        '`start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd` or set MYSQL_URL.',
      { cause: error },
    );
  }
  try {
    await conn.query(`drop database if exists \`${name}\``);
    await conn.query(`create database \`${name}\``);
  } finally {
    await conn.end();
  }
  return withDatabase(MYSQL_URL, name);
}

/** Runs SQL statements on a PostgreSQL database as the admin user. */
export async function pgExec(url: string, ...statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const s of statements) await client.query(s);
  } finally {
    await client.end();
  }
}

/** Runs SQL statements on a MariaDB database as the admin user. */
export async function mysqlExec(url: string, ...statements: string[]): Promise<void> {
  const conn = await mysql.createConnection({ uri: url, multipleStatements: false });
  try {
    for (const s of statements) await conn.query(s);
  } finally {
    await conn.end();
  }
}

/** The live SQL Server's admin URL (see mssql-server.ts); throws when there is none. */
export async function mssqlUrl(database?: string): Promise<string> {
  const server = await resolveMssqlServer();
  if (!server.url) throw new Error(`no SQL Server: ${server.reason}`);
  return database ? withDatabase(server.url, database) : server.url;
}

/** A one-connection admin knex on a SQL Server URL (`mssql://user:pw@host:port/db`); destroy it after use. */
export function mssqlAdmin(url: string): Knex {
  const u = new URL(url);
  return knex({
    client: 'mssql',
    connection: {
      server: u.hostname,
      port: Number(u.port || 1433),
      user: decodeURIComponent(u.username),
      password: decodeURIComponent(u.password),
      database: decodeURIComponent(u.pathname.slice(1)) || 'master',
      // The test server's certificate is self-signed.
      options: { encrypt: true, trustServerCertificate: true },
    } as Knex.MsSqlConnectionConfig,
    pool: { min: 0, max: 1 },
  });
}

/** Runs statements (each its own batch) on a SQL Server database as the admin login; returns the last one's rows. */
export async function mssqlExec<T = Record<string, unknown>>(url: string, ...statements: string[]): Promise<T[]> {
  const admin = mssqlAdmin(url);
  try {
    let rows: T[] = [];
    for (const s of statements) rows = (await admin.raw(s)) as T[];
    return rows;
  } finally {
    await admin.destroy();
  }
}

/** Drops and creates a SQL Server database; returns its URL. */
export async function freshMssqlDatabase(name: string): Promise<string> {
  await dropDatabase('mssql', name);
  await mssqlExec(await mssqlUrl(), `CREATE DATABASE [${name}]`);
  return mssqlUrl(name);
}

/** Drops a test database, its sessions ended first. */
export async function dropDatabase(dialect: 'postgres' | 'mysql' | 'mssql', name: string): Promise<void> {
  if (dialect === 'postgres') await pgExec(PG_URL, `drop database if exists "${name}" with (force)`);
  else if (dialect === 'mysql') await mysqlExec(MYSQL_URL, `drop database if exists \`${name}\``);
  else {
    await mssqlExec(await mssqlUrl(),
      `IF DB_ID(N'${name}') IS NOT NULL ALTER DATABASE [${name}] SET SINGLE_USER WITH ROLLBACK IMMEDIATE`,
      `DROP DATABASE IF EXISTS [${name}]`);
  }
}
