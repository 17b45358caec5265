import knex from 'knex';
import { afterAll } from 'vitest';
import { PermanentError, TransientError } from '../../src/errors.ts';
import { toSourceError } from '../../src/sources/error-codes.ts';
import type { Source } from '../../src/sources/source.ts';
import { openSource } from '../../src/sources/source-pools.ts';
import { MYSQL_URL, PG_URL } from '../helpers/databases.ts';
import { RO_PASSWORD, RO_USER } from '../helpers/partner.ts';
import { describe, expect, test, type Lab } from '../fixture.ts';
import { settingsFor } from './source-fixtures.ts';

const SECRET = 'S3cret-pw!';
const context = { source: 'mysql://u@h:3306/d', secret: SECRET };

// Hand-made error objects with the drivers' fields: the tables are checked, not what a driver raises (the live tests below and the partner-fault tests do that).
describe('driver error tables', () => {
  const cases: [Parameters<typeof toSourceError>[0], object, 'transient' | 'permanent', string][] = [
    ['postgres', { code: '40001' }, 'transient', 'RP_SOURCE_QUERY'],
    ['postgres', { code: '57P01' }, 'transient', 'RP_SOURCE_UNREACHABLE'],
    ['postgres', { code: '53300' }, 'transient', 'RP_SOURCE_UNREACHABLE'],
    ['postgres', { code: '57014' }, 'transient', 'RP_SOURCE_TIMEOUT'],
    ['postgres', { code: '28P01' }, 'permanent', 'RP_SOURCE_AUTH'],
    ['postgres', { code: '42501' }, 'permanent', 'RP_SOURCE_PERMISSION'],
    ['postgres', { code: '42703' }, 'permanent', 'RP_COLUMN_MISSING'],
    ['postgres', { code: 'ECONNREFUSED' }, 'transient', 'RP_SOURCE_UNREACHABLE'],
    ['postgres', { code: 'XX000' }, 'permanent', 'RP_SOURCE_QUERY'],
    ['mysql', { errno: 1213, code: 'ER_LOCK_DEADLOCK' }, 'transient', 'RP_SOURCE_QUERY'],
    ['mysql', { errno: 1040 }, 'transient', 'RP_SOURCE_UNREACHABLE'],
    ['mysql', { errno: 1969 }, 'transient', 'RP_SOURCE_TIMEOUT'],
    ['mysql', { errno: 1142 }, 'permanent', 'RP_SOURCE_PERMISSION'],
    ['mysql', { errno: 1054 }, 'permanent', 'RP_COLUMN_MISSING'],
    ['mysql', { code: 'PROTOCOL_CONNECTION_LOST' }, 'transient', 'RP_SOURCE_UNREACHABLE'],
    ['mssql', { code: 'ELOGIN' }, 'permanent', 'RP_SOURCE_AUTH'],
    ['mssql', { code: 'EREQUEST', number: 208 }, 'permanent', 'RP_VIEW_MISSING'],
    ['mssql', { code: 'EREQUEST', number: 1205 }, 'transient', 'RP_SOURCE_QUERY'],
    ['mssql', { errors: [{ code: 'ETIMEDOUT' }] }, 'transient', 'RP_SOURCE_TIMEOUT'],
  ];
  test.each(cases)('classifies a hand-made %s driver error %j as %s %s', (dialect, fields, kind, code) => {
    const error = toSourceError(dialect, Object.assign(new Error('driver says no'), fields), context);
    expect(error).toBeInstanceOf(kind === 'transient' ? TransientError : PermanentError);
    expect(error.code).toBe(code);
  });

  test('treats a pool acquire timeout as transient', () => {
    expect(toSourceError('postgres', new knex.KnexTimeoutError('Knex: Timeout acquiring a connection'), context)).toBeInstanceOf(TransientError);
  });

  test('scrubs the password from the message and from the kept cause', () => {
    const raw = Object.assign(new Error(`connect mysql://u:${SECRET}@h failed`), { errno: 1045 });
    const error = toSourceError('mysql', raw, context);
    expect(error.code).toBe('RP_SOURCE_AUTH');
    expect(error.message).not.toContain(SECRET);
    expect(String((error.cause as Error).message) + String((error.cause as Error).stack)).not.toContain(SECRET);
  });
});

describe('live credential errors', () => {
  test('reports a refused MariaDB password as RP_SOURCE_AUTH without echoing it', async () => {
    const source = openSource(settingsFor('mysql', MYSQL_URL, { password: SECRET }));
    try {
      const error = await source.withReadSession((s) => s.clockUtc()).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'RP_SOURCE_AUTH' });
      expect(JSON.stringify(error) + String((error as Error).message) + String((error as Error).stack)).not.toContain(SECRET);
    } finally {
      await source.close();
    }
  });

  test('reports an unreachable port as a transient RP_SOURCE_UNREACHABLE', async () => {
    // Port 1 on the PostgreSQL server's host: nothing listens there.
    const unreachable = new URL(PG_URL);
    unreachable.port = '1';
    const source = openSource(settingsFor('postgres', unreachable.toString()));
    try {
      const error = await source.withReadSession((s) => s.clockUtc()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransientError);
      expect(error).toMatchObject({ code: 'RP_SOURCE_UNREACHABLE' });
    } finally {
      await source.close();
    }
  });
});

describe('postgres read-only user', () => {
  /**
   * The file's partner with tables `visible` (SELECT granted to the partner's read-only user)
   * and `hidden` (nothing granted), and a Source as that user: made by the first test that needs it.
   */
  let ready: Promise<Source> | undefined;
  const readerOf = (lab: Lab) => (ready ??= (async () => {
    const partner = await lab.partner('postgres');
    await partner.exec('create table visible (id int primary key)', 'create table hidden (id int primary key)', `grant select on visible to ${RO_USER}`);
    const url = new URL(partner.url);
    url.username = RO_USER;
    url.password = RO_PASSWORD;
    return openSource(settingsFor('postgres', url.toString()));
  })());
  afterAll(async () => {
    await (await ready?.catch(() => undefined))?.close();
  });

  test('holds nothing beyond SELECT', async ({ lab }) => {
    const reader = await readerOf(lab);
    expect(await reader.inspectPrivileges()).toEqual({ writePrivileges: [] });
  });

  test('cannot describe a table it cannot read, and a read of it is RP_SOURCE_PERMISSION', async ({ lab }) => {
    const reader = await readerOf(lab);
    await expect(reader.describeView('hidden')).rejects.toMatchObject({ code: 'RP_VIEW_MISSING' });
    const spec = { view: 'hidden', columns: ['id'], primaryKey: ['id'], cursor: 'id', cursorKind: 'integer' as const, filter: {} };
    await expect(reader.withReadSession((s) => s.readPage(spec, { limit: 1 }))).rejects.toMatchObject({ code: 'RP_SOURCE_PERMISSION' });
    await expect(reader.withReadSession((s) => s.readPage({ ...spec, view: 'visible' }, { limit: 1 }))).resolves.toEqual({ rows: [], positions: [] });
  });
});
