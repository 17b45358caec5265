/**
 * A stored secret goes only where the operator bound it (`secret set NAME --for DESTINATION`).
 * `tenant:` is written by whoever writes the connector, so it cannot be what keeps another
 * tenant's password home: a connector declaring `tenant: zen`, naming `${secret:zen/db}` and
 * pointing its source at a host its author answers (asking for the password in cleartext)
 * must get nothing, whether it comes through the ops API or `apply`, registered before or
 * after the secret was stored. Adopted from the issue 14 review (tenant-secret-theft).
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { BackgroundBackfills } from '../../src/backfill/background-backfills.ts';
import { parseConnector } from '../../src/config/load-connectors.ts';
import { pullConnector } from '../../src/engine/pull-connector.ts';
import type { PullerError } from '../../src/errors.ts';
import { Scheduler } from '../../src/scheduler/scheduler.ts';
import { parseMasterKeys } from '../../src/secrets/master-key.ts';
import { parseBinding } from '../../src/secrets/secret-binding.ts';
import { listSecrets, setSecret } from '../../src/secrets/secret-store.ts';
import { buildOpsApi } from '../../src/server/ops-api.ts';
import { PullerMetrics } from '../../src/server/puller-metrics.ts';
import type { RegisteredConnector } from '../../src/store/connector-registry.ts';
import { describe, expect, LAB_REACH_TOKEN, test, type Lab, type LabStore } from '../fixture.ts';
import { RO_PASSWORD, RO_USER } from '../helpers/partner.ts';
import { testLog } from '../helpers/quiet-log.ts';
import { registerYaml } from '../helpers/store.ts';
import { capturedLog, waitFor } from '../scheduler/ops-fixtures.ts';

const MASTER_KEY = randomBytes(32).toString('base64');
// The scheduler resolves secrets with the process's environment.
process.env.REACH_PULLER_MASTER_KEY = MASTER_KEY;
const keys = parseMasterKeys(MASTER_KEY);
const OPS_TOKEN = 'binding-ops-token-3d9a';

/**
 * A PostgreSQL impostor: asks for the password in cleartext, records what it is sent, then
 * refuses the login. It counts connections: a refused secret must not even open one.
 */
async function impostor() {
  const received: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    let startup = true;
    socket.on('data', (chunk: Buffer) => {
      if (startup) {
        startup = false;
        // SSLRequest is not expected (ssl: disable); AuthenticationCleartextPassword.
        socket.write(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3]));
        return;
      }
      received.push(chunk);
      const fields = Buffer.from('SFATAL\0C28P01\0Mpassword authentication failed\0\0');
      const header = Buffer.from([0x45, 0, 0, 0, 0]);
      header.writeInt32BE(fields.length + 4, 1);
      socket.end(Buffer.concat([header, fields]));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => connections,
    received: () => Buffer.concat(received).toString('utf8'),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

// The connector allows whatever method hands the password over in plain text, so that were the
// secret released, the impostor would receive it (the option's spelling is being renamed).
const CLEARTEXT = ['[scram, cleartext]', '[challenge, password]'].find((methods) =>
  parseConnector('x.yaml', connectorYaml('t', { host: 'h', port: 1, user: 'u' }, '${env:X}', `  password_auth: ${methods}\n`)).connector) ?? '[scram]';

function connectorYaml(tenant: string, to: { host: string; port: number; user: string; database?: string }, password: string, extra = '', body = streamsYaml()): string {
  return `tenant: ${tenant}
source:
  dialect: postgres
  host: ${to.host}
  port: ${to.port}
  database: ${to.database ?? 'anything'}
  user: ${to.user}
  password: ${password}
  ssl: { mode: disable }
  settle_seconds: 0
${extra}${body}`;
}

function streamsYaml(): string {
  return 'streams:\n  - { name: s, view: v_contacts, schema: contacts, primary_key: [id], cursor: updated_at, fields: { id: id, email: email } }\n';
}

let zenPartner: Promise<void> | undefined;

/** zen's real partner database (view v_contacts, one row), its source, and the binding of its password. */
async function zenSetup(lab: Lab) {
  const partner = await lab.partner('postgres');
  zenPartner ??= lab.view(partner, 'contacts', 'id bigint primary key, email text, updated_at timestamptz not null',
    "values (1, 'a@x.io', now() - interval '1 hour')").then(() => undefined);
  await zenPartner;
  const url = new URL(partner.url);
  const source = { host: url.hostname, port: Number(url.port || 5432), user: RO_USER, database: partner.database };
  return { source, binding: `postgres://${RO_USER}@${source.host}:${source.port}` };
}

const env = () => ({ ...process.env, REACH_PULLER_MASTER_KEY: MASTER_KEY });

async function pullError(store: LabStore, connector: RegisteredConnector): Promise<PullerError | undefined> {
  try {
    const summaries = await pullConnector({ store: store.db, connector, log: testLog, runtime: { env: env() } });
    return summaries.find((s) => s.error)?.error as PullerError | undefined;
  } catch (error) {
    return error as PullerError;
  }
}

describe('destinations a secret may be bound to', () => {
  test('are written as a source without its database, or a Reach origin, and compared in one form', () => {
    expect(parseBinding('postgres://rp_ro@DB.Glow.example')).toBe('postgres://rp_ro@db.glow.example:5432');
    expect(parseBinding('mysql://rp_ro@db.glow.example:3307')).toBe('mysql://rp_ro@db.glow.example:3307');
    expect(parseBinding('mssql://svc%5Creader@[::1]')).toBe('mssql://svc%5Creader@[::1]:1433');
    expect(parseBinding('https://EU.reach.example/')).toBe('https://eu.reach.example');
    for (const bad of ['postgres://rp_ro@db.glow.example:5432/glow', 'postgres://rp_ro:pw@db:5432', 'postgres://db:5432', 'oracle://u@db',
      'https://reach.example/v1', 'db.glow.example']) {
      expect(() => parseBinding(bad), bad).toThrow(expect.objectContaining({ code: 'RP_CONFIG_INVALID' }));
    }
  });
});

describe('another tenant\'s stored secret', () => {
  test('still opens for its own connector, to the source it is bound to', async ({ lab }) => {
    const store = await lab.store('own');
    const zen = await zenSetup(lab);
    await setSecret(store.db, keys, 'zen/db', RO_PASSWORD, zen.binding);
    const connector = await registerYaml(store, 'zen-own', connectorYaml('zen', zen.source, '${secret:zen/db}'));
    const [summary] = await pullConnector({ store: store.db, connector, log: testLog, runtime: { env: env() } });
    expect(summary!.error).toBeUndefined();
    expect(summary!.rowsSent).toBe(1);
  });

  test('is never sent elsewhere through the ops API: refused at PUT, and at pull when registered before it was stored', async ({ lab }) => {
    const store = await lab.store('api');
    const zen = await zenSetup(lab);
    await setSecret(store.db, keys, 'zen/db', RO_PASSWORD, zen.binding);
    const fake = await impostor();
    const captured = capturedLog();
    const metrics = new PullerMetrics();
    const scheduler = new Scheduler({ db: store.db, log: captured.log, metrics, refreshSeconds: 1 });
    await scheduler.start();
    const backfills = new BackgroundBackfills({ store: store.db, log: testLog });
    const app: FastifyInstance = buildOpsApi({ db: store.db, scheduler, metrics, backfills, token: OPS_TOKEN, log: testLog });
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const headers = { authorization: `Bearer ${OPS_TOKEN}` };
    const put = (id: string, yaml: string) => fetch(`${base}/connectors/${id}`, { method: 'PUT', headers: { ...headers, 'content-type': 'application/yaml' }, body: yaml });
    const pull = (id: string) => fetch(`${base}/connectors/${id}/pull`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: '{}' });
    try {
      const to = { host: '127.0.0.1', port: fake.port, user: 'anyone' };
      const refused = await put('not-zen', connectorYaml('zen', to, '${secret:zen/db}', `  password_auth: ${CLEARTEXT}\n`));
      const body = await refused.json() as { error: string; problems: { path: string; message: string }[] };
      expect(refused.status).toBe(400);
      expect(body.error).toBe('RP_SECRET_FORBIDDEN');
      expect(body.problems[0]).toMatchObject({ path: 'source.password', message: expect.stringContaining('zen/db') });
      expect((await pull('not-zen')).status).toBe(404);

      // Registered while nothing of that name was stored; the operator then stores zen's password.
      expect((await put('not-zen-later', connectorYaml('zen', to, '${secret:zen/later}', `  password_auth: ${CLEARTEXT}\n`))).status).toBe(200);
      await setSecret(store.db, keys, 'zen/later', RO_PASSWORD, zen.binding);
      expect((await pull('not-zen-later')).status).toBe(202);
      const finishedRun = async () => {
        const runs = await (await fetch(`${base}/connectors/not-zen-later/runs`, { headers })).json() as { items: { status: string }[] };
        return runs.items.some((r) => r.status !== 'running');
      };
      await waitFor('the pull to end', async () => captured.events.some((e) => e.msg === 'run could not start') || await finishedRun());
      expect(fake.received(), 'what the impostor was sent').not.toContain(RO_PASSWORD);
      expect(fake.connections(), 'connections to the impostor').toBe(0);
      const event = captured.events.find((e) => e.msg === 'run could not start') as unknown as { code: string; err: { message: string } };
      expect(event.code).toBe('RP_SECRET_FORBIDDEN');
      expect(event.err.message).toMatch(/connector not-zen-later, source\.password: secret zen\/later is bound to another destination/);
      expect(JSON.stringify(captured.events)).not.toContain(RO_PASSWORD);
    } finally {
      await app.close();
      await backfills.stop();
      await scheduler.stop();
      await fake.close();
    }
    expect(fake.connections(), 'connections to the impostor').toBe(0);
    expect(fake.received()).not.toContain(RO_PASSWORD);
  });

  test('is never sent elsewhere through `apply` and `pull`', async ({ lab }) => {
    const store = await lab.store('cli');
    const zen = await zenSetup(lab);
    const fake = await impostor();
    const cliEnv = { DATABASE_URL: store.url, REACH_PULLER_MASTER_KEY: MASTER_KEY };
    const dir = await lab.tmpDir();
    const to = { host: '127.0.0.1', port: fake.port, user: 'anyone' };
    try {
      const set = await lab.cli(['secret', 'set', 'zen/db', '--for', zen.binding], { env: cliEnv, input: `${RO_PASSWORD}\n` });
      expect(set.stderr).toBe('');
      expect(set.stdout).toContain(`created secret zen/db for ${zen.binding}`);

      const early = path.join(dir, 'not-zen.yaml');
      await writeFile(early, connectorYaml('zen', to, '${secret:zen/db}', `  password_auth: ${CLEARTEXT}\n`));
      const applied = await lab.cli(['apply', early], { env: cliEnv });
      expect(applied.code).toBe(2);
      expect(applied.stderr).toMatch(/not-zen\.yaml source\.password: secret zen\/db is bound to another destination/);

      const later = path.join(dir, 'not-zen-later.yaml');
      await writeFile(later, connectorYaml('zen', to, '${secret:zen/cli-later}', `  password_auth: ${CLEARTEXT}\n`));
      expect((await lab.cli(['apply', later], { env: cliEnv })).code).toBe(0);
      await lab.cli(['secret', 'set', 'zen/cli-later', '--for', zen.binding], { env: cliEnv, input: RO_PASSWORD });
      const pulled = await lab.cli(['pull', 'not-zen-later'], { env: cliEnv });
      expect(fake.received(), 'what the impostor was sent').not.toContain(RO_PASSWORD);
      expect(fake.connections(), 'connections to the impostor').toBe(0);
      expect(pulled.code).not.toBe(0);
      expect(pulled.stderr).toContain('RP_SECRET_FORBIDDEN');
      expect(pulled.stderr).toMatch(/connector not-zen-later, source\.password: secret zen\/cli-later/);

      // The binding shows in `secret list`, the value nowhere.
      const list = await lab.cli(['secret', 'list', '--json'], { env: cliEnv });
      expect(JSON.parse(list.stdout)).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'zen/cli-later', bound_to: zen.binding })]));
      // Storing without saying where the secret may go is refused, and stores nothing.
      const unbound = await lab.cli(['secret', 'set', 'zen/nowhere'], { env: cliEnv, input: RO_PASSWORD });
      expect(unbound.code).not.toBe(0);
      expect(unbound.stderr).toContain('--for');
      for (const out of [set, applied, pulled, list, unbound]) expect(out.stdout + out.stderr).not.toContain(RO_PASSWORD);
      expect((await listSecrets(store.db)).map((s) => s.name)).toEqual(['zen/cli-later', 'zen/db']);
    } finally {
      await fake.close();
    }
    expect(fake.connections(), 'connections to the impostor').toBe(0);
  });

  test('re-aimed by writing the store\'s binding column, no longer opens', async ({ lab }) => {
    const store = await lab.store('aim');
    const zen = await zenSetup(lab);
    const fake = await impostor();
    try {
      await setSecret(store.db, keys, 'zen/aimed', RO_PASSWORD, zen.binding);
      const to = { host: '127.0.0.1', port: fake.port, user: 'anyone' };
      const connector = await registerYaml(store, 'aimed', connectorYaml('zen', to, '${secret:zen/aimed}', `  password_auth: ${CLEARTEXT}\n`));
      await sql`update secrets set binding = ${`postgres://anyone@127.0.0.1:${fake.port}`} where name = 'zen/aimed'`.execute(store.db);
      expect((await pullError(store, connector))?.code).toBe('RP_SECRET_CORRUPT');
      // Cleared, it is no "unbound" secret either: the seal names the binding it was made with.
      await sql`update secrets set binding = null where name = 'zen/aimed'`.execute(store.db);
      const own = await registerYaml(store, 'zen-aimed', connectorYaml('zen', zen.source, '${secret:zen/aimed}'));
      expect((await pullError(store, own))?.code).toBe('RP_SECRET_CORRUPT');
    } finally {
      await fake.close();
    }
    expect(fake.connections(), 'connections to the impostor').toBe(0);
  });
});

describe('an unbound secret', () => {
  test('is refused with its name and the command that binds it, and works once bound', async ({ lab }) => {
    const store = await lab.store('unbound');
    const zen = await zenSetup(lab);
    // As a secret stored before bindings existed.
    await setSecret(store.db, keys, 'zen/legacy', RO_PASSWORD, null);
    const connector = await registerYaml(store, 'zen-legacy', connectorYaml('zen', zen.source, '${secret:zen/legacy}'));
    const error = await pullError(store, connector);
    expect(error?.code).toBe('RP_SECRET_FORBIDDEN');
    expect(error?.message).toContain('connector zen-legacy, source.password: secret zen/legacy is bound to no destination');
    expect(error?.message).toContain('reach-puller secret bind zen/legacy --for <dialect>://<user>@<host>:<port>');
    expect(error?.message).not.toContain(RO_PASSWORD);
    // `apply` refuses it up front as well.
    const cliEnv = { DATABASE_URL: store.url, REACH_PULLER_MASTER_KEY: MASTER_KEY };
    const file = path.join(await lab.tmpDir(), 'zen-legacy.yaml');
    await writeFile(file, connectorYaml('zen', zen.source, '${secret:zen/legacy}'));
    expect((await lab.cli(['apply', file], { env: cliEnv })).stderr).toContain('secret zen/legacy is bound to no destination');

    const bound = await lab.cli(['secret', 'bind', 'zen/legacy', '--for', zen.binding], { env: cliEnv });
    expect(bound.stdout).toContain(`bound secret zen/legacy to ${zen.binding}`);
    const [summary] = await pullConnector({ store: store.db, connector, log: testLog, runtime: { env: env() } });
    expect(summary!.error).toBeUndefined();
  });
});

describe('a stored Reach token', () => {
  test('goes only to the Reach origin it is bound to', async ({ lab }) => {
    const store = await lab.store('reach');
    const zen = await zenSetup(lab);
    const own = await lab.reachApi();
    const other = await lab.reachApi();
    await setSecret(store.db, keys, 'zen/reach', LAB_REACH_TOKEN, new URL(own.url).origin);
    const yaml = (url: string) => connectorYaml('zen', zen.source, '${env:RP_TEST_RO_PASSWORD}', '', `reach: { api_url: "${url}", token: "\${secret:zen/reach}" }\n${streamsYaml()}`);

    const elsewhere = await registerYaml(store, 'zen-reach-other', yaml(other.url));
    const error = await pullError(store, elsewhere);
    expect(error?.code).toBe('RP_SECRET_FORBIDDEN');
    expect(error?.message).toContain('connector zen-reach-other, reach.token: secret zen/reach is bound to another destination');
    expect(other.requests).toEqual([]);

    const home = await registerYaml(store, 'zen-reach-own', yaml(own.url));
    const [summary] = await pullConnector({ store: store.db, connector: home, log: testLog, runtime: { env: env() } });
    expect(summary!.error).toBeUndefined();
    expect(summary!.rowsSent).toBe(1);
  });
});
