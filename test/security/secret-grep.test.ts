/**
 * The credential never leaks: a full flow through the real CLI (secret set, apply, test,
 * pull, including a missing view and a refused MariaDB password) with the partner password
 * and the Reach token in the encrypted store; then stdout and stderr of every command
 * (debug logging on), `status --json`, every answer of the ops API of a `serve` on the same
 * store (runs with their stored errors, rejects, status, metrics, a pull it starts), the
 * local Reach API's records, and every row of every state-store table are searched for
 * them, in plain, JSON-escaped, URL-encoded, base64 and hex forms.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { RO_PASSWORD, TEST_DIALECTS, type Partner } from '../helpers/partner.ts';
import { describe, expect, test, type CliResult } from '../fixture.ts';

// Quote and backslash: JSON output escapes them, so only the escaped form could leak there.
const WRONG_PASSWORD = 'rp-ro-Wrong"Pw\\8812';
const REACH_TOKEN = 'reach-Token-Secret-5150';
const MASTER_KEY = randomBytes(32).toString('base64');
const OPS_TOKEN = `ops-${randomBytes(12).toString('hex')}`;
const SECRETS = [RO_PASSWORD, WRONG_PASSWORD, REACH_TOKEN, MASTER_KEY, OPS_TOKEN];

interface Output extends CliResult {
  command: string;
}

describe.runIf(TEST_DIALECTS.length === 2)('no secret in any output or stored row', () => {
  test('runs the flow, then finds no secret anywhere', { timeout: 240_000 }, async ({ lab }) => {
    const pgPartner = await lab.partner('postgres');
    const myPartner = await lab.partner('mysql');
    const views = new Map<Partner, string>();
    for (const p of [pgPartner, myPartner]) {
      const { view } = await lab.view(p, 'grep', `id integer primary key, email ${p.types.text}, updated_at ${p.types.timestamp}`,
        "values (1, 'a@example.com', '2024-01-01 00:00:00'), (2, 'b@example.com', '2024-01-02 00:00:00')");
      views.set(p, view);
    }
    const store = await lab.store();
    const api = await lab.reachApi({ token: REACH_TOKEN });
    const env: NodeJS.ProcessEnv = {
      DATABASE_URL: store.url, REACH_PULLER_MASTER_KEY: MASTER_KEY, LOG_LEVEL: 'debug',
      REACH_PULLER_ALLOW_PRIVATE_NETWORKS: '127.0.0.0/8,::1/128', REACH_API_URL: '', REACH_API_TOKEN: '',
      REACH_PULLER_REACH_URLS: api.url, REACH_PULLER_DEV_INSECURE_REACH: '1',
    };
    const outputs: Output[] = [];
    async function cli(args: string[], input?: string): Promise<Output> {
      const result = await lab.cli(args, { env, input });
      const out = { command: args.join(' '), ...result };
      outputs.push(out);
      return out;
    }

    const dir = await lab.tmpDir();
    const connector = (p: Partner, secret: string, view: string) => `tenant: tenant-grep
${p.sourceYaml('  settle_seconds: 0\n').replace('${env:RP_TEST_RO_PASSWORD}', `\${secret:tenant-grep/${secret}}`)}reach:
  api_url: ${api.url}
  token: \${secret:tenant-grep/REACH_TOKEN}
streams:
  - name: s
    view: ${view}
    schema: contacts
    primary_key: [id]
    cursor: updated_at
    fields: { id: id, email: email }
`;
    writeFileSync(path.join(dir, 'pg_ok.yaml'), connector(pgPartner, 'PARTNER_PW_PG', views.get(pgPartner)!));
    writeFileSync(path.join(dir, 'pg_badview.yaml'), connector(pgPartner, 'PARTNER_PW_PG', 'v_missing'));
    writeFileSync(path.join(dir, 'my_ok.yaml'), connector(myPartner, 'PARTNER_PW_MY', views.get(myPartner)!));
    writeFileSync(path.join(dir, 'my_badpw.yaml'), connector(myPartner, 'WRONG_PW', views.get(myPartner)!));

    // Each stored secret is bound to the one destination it is sent to: the password to each
    // partner server, the token to the Reach API's origin.
    const boundTo = (p: Partner) => {
      const u = new URL(p.url);
      return `${p.dialect}://rp_ro@${u.hostname}:${u.port || (p.dialect === 'postgres' ? 5432 : 3306)}`;
    };
    // Independent commands run side by side: each CLI start costs seconds on a busy machine.
    const sets = await Promise.all([
      cli(['secret', 'set', 'tenant-grep/PARTNER_PW_PG', '--for', boundTo(pgPartner)], `${RO_PASSWORD}\n`),
      cli(['secret', 'set', 'tenant-grep/PARTNER_PW_MY', '--for', boundTo(myPartner)], `${RO_PASSWORD}\n`),
      cli(['secret', 'set', 'tenant-grep/WRONG_PW', '--for', boundTo(myPartner)], WRONG_PASSWORD),
      cli(['secret', 'set', 'tenant-grep/REACH_TOKEN', '--for', new URL(api.url).origin], REACH_TOKEN),
    ]);
    expect(sets.map((o) => o.code)).toEqual([0, 0, 0, 0]);
    expect((await cli(['apply', dir])).code).toBe(0);
    const [list, testOk, testBad, pullPg, pullMy, badView, badPassword] = await Promise.all([
      cli(['secret', 'list', '--json']), cli(['test', 'pg_ok', '--json']), cli(['test', 'my_badpw']),
      cli(['pull', 'pg_ok']), cli(['pull', 'my_ok', '--json']), cli(['pull', 'pg_badview']), cli(['pull', 'my_badpw', '--json']),
    ]);
    expect(list.stdout).toContain('REACH_TOKEN');
    expect([testOk.code, testBad.stderr]).toEqual([0, expect.stringContaining('RP_SOURCE_AUTH')]);
    expect([pullPg.code, pullMy.code]).toEqual([0, 0]);
    expect(badView.stdout).toContain('RP_VIEW_MISSING');
    expect(badPassword.stdout).toContain('RP_SOURCE_AUTH');
    // `status --json` shows every stream, the failed ones with their stored errors: searched below like every output.
    const status = await cli(['status', '--json']);
    expect(status.code, status.stderr).toBe(0);
    expect((JSON.parse(status.stdout) as { connector: string }[]).map((r) => r.connector).sort()).toEqual(['my_badpw', 'my_ok', 'pg_badview', 'pg_ok']);

    // The ops API of a `serve` on the same store: every answer an ops-token holder can read.
    // Port 0: the server binds a free port itself and logs its address ('serving'), so no other process can take it first.
    const serve = lab.spawnCli(['serve', '--port', '0'], { env: { ...env, REACH_PULLER_OPS_TOKEN: OPS_TOKEN }, timeoutMs: 120_000 });
    let serveStderr = '';
    const address = new Promise<string>((resolve, reject) => {
      serve.child.stderr!.on('data', (d: Buffer) => {
        serveStderr += d.toString();
        const serving = serveStderr.split('\n').find((line) => line.includes('"msg":"serving"'));
        if (serving) resolve((JSON.parse(serving) as { api: string }).api);
      });
      serve.result.then((r) => reject(new Error(`serve ended before serving: ${r.stderr.slice(-2000)}`)), reject);
    });
    const answers: [string, string][] = [];
    try {
      const base = await address;
      const call = async (method: string, route: string) => {
        const response = await fetch(`${base}${route}`, { method, headers: { authorization: `Bearer ${OPS_TOKEN}` } });
        answers.push([`ops API ${method} ${route}`, await response.text()]);
        return response.status;
      };
      expect(await call('POST', '/connectors/my_badpw/pull')).toBeLessThan(300);
      await new Promise((r) => setTimeout(r, 2_000));
      for (const id of ['pg_ok', 'pg_badview', 'my_ok', 'my_badpw']) {
        expect(await call('GET', `/connectors/${id}/runs`)).toBe(200);
        await call('GET', `/connectors/${id}/rejects?all=true`);
        await call('GET', `/status?connector=${id}`);
      }
      for (const route of ['/status', '/metrics', '/backfills', '/openapi.json']) await call('GET', route);
      expect(answers.find(([where]) => where.endsWith('/connectors/my_badpw/runs'))![1]).toContain('RP_SOURCE_AUTH');
    } finally {
      serve.child.kill('SIGTERM');
      outputs.push({ command: 'serve', ...(await serve.result) });
    }

    // The flow really ran: both good connectors delivered with the token.
    await api.settled();
    expect(api.resources('tenant-grep', 'contacts').size).toBe(2);

    const client = new pg.Client({ connectionString: store.url });
    await client.connect();
    const dump: string[] = [];
    try {
      const tables = await client.query<{ name: string }>(
        "select table_name as name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'");
      expect(tables.rows.map((t) => t.name)).toEqual(expect.arrayContaining(['secrets', 'runs', 'connectors']));
      for (const { name } of tables.rows) {
        const rows = await client.query<{ row: string }>(`select row_to_json(t)::text as row from "${name}" t`);
        dump.push(...rows.rows.map((r) => `${name}: ${r.row}`));
      }
    } finally {
      await client.end();
    }
    expect(dump.some((line) => line.startsWith('secrets: '))).toBe(true);
    expect(dump.some((line) => /RP_VIEW_MISSING/.test(line))).toBe(true);

    const haystacks: [where: string, text: string][] = [
      ...outputs.flatMap((o): [string, string][] => [[`stdout of ${o.command}`, o.stdout], [`stderr of ${o.command}`, o.stderr]]),
      ...answers,
      ['state store', dump.join('\n')],
      ['Reach API records', JSON.stringify([...api.resources('tenant-grep', 'contacts').values()])],
    ];
    expect(outputs.map((o) => o.stderr).join('').length).toBeGreaterThan(0);
    for (const secret of SECRETS) {
      const forms = [secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret), Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('hex')];
      for (const [where, text] of haystacks) {
        for (const form of forms) expect(text.includes(form), `${where} contains a secret`).toBe(false);
      }
    }
  });
});
