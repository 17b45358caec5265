/** An admin transaction on a partner database, left open to model a late commit. */
import pg from 'pg';
import mysql from 'mysql2/promise';
import { mssqlAdmin } from './databases.ts';
import type { Partner } from './partner.ts';

export interface AdminTransaction {
  /** When it began, to keep it inside the settle window. */
  startedAt: number;
  run(sql: string): Promise<void>;
  commit(): Promise<void>;
}

/** Begins a transaction as the admin user; statements run inside it until commit. */
export async function openAdminTransaction(partner: Partner): Promise<AdminTransaction> {
  const startedAt = Date.now();
  if (partner.dialect === 'postgres') {
    const client = new pg.Client({ connectionString: partner.url });
    await client.connect();
    await client.query('begin');
    return {
      startedAt,
      run: async (sql) => void (await client.query(sql)),
      commit: async () => { await client.query('commit'); await client.end(); },
    };
  }
  if (partner.dialect === 'mssql') {
    const admin = mssqlAdmin(partner.url);
    const trx = await admin.transaction();
    return {
      startedAt,
      run: async (sql) => void (await trx.raw(sql)),
      commit: async () => { await trx.commit(); await admin.destroy(); },
    };
  }
  const conn = await mysql.createConnection({ uri: partner.url });
  await conn.query("set time_zone = '+00:00'");
  await conn.query('start transaction');
  return {
    startedAt,
    run: async (sql) => void (await conn.query(sql)),
    commit: async () => { await conn.query('commit'); await conn.end(); },
  };
}
