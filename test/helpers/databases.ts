/**
 * The real database servers tests run on, and creating and dropping their databases: the
 * fixture (test/fixture.ts) names each database for its file and this run of the suite.
 * PG_URL / MYSQL_URL point at the servers (defaults: the local ones); MSSQL_URL (see mssql-server.ts) enables
 * live SQL Server tests.
 */
import pg from 'pg';
import mysql from 'mysql2/promise';

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

/** Drops a test database (PostgreSQL: its sessions ended first). */
export async function dropDatabase(dialect: 'postgres' | 'mysql', name: string): Promise<void> {
  if (dialect === 'postgres') await pgExec(PG_URL, `drop database if exists "${name}" with (force)`);
  else await mysqlExec(MYSQL_URL, `drop database if exists \`${name}\``);
}
