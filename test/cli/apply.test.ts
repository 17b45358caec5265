/**
 * `apply` as ops use it: a directory of connector files is validated as a whole; one bad
 * file means exit 2, every problem named with file:line and key path, nothing registered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli } from '../helpers/cli.ts';
import { freshPgDatabase } from '../helpers/databases.ts';

const GOOD = `tenant: glow-salon-042
source:
  dialect: postgres
  host: 127.0.0.1
  database: partner
  user: reach_ro
  password: \${env:GLOW_DB_PASSWORD}
  ssl: { mode: disable }
schedule: "*/15 * * * *"
streams:
  - name: customers
    view: reach.customers_v
    schema: contacts
    primary_key: [customer_id]
    cursor: updated_at
    fields:
      id: customer_id
      email: email
`;

const BAD = `tenant: bright-spa-7
source:
  dialect: postgres
  host: 127.0.0.1
  database: partner
  user: reach_ro
  password: hunter2-plaintext
schedule: "every minute"
verify_schedule: "weekly"
streams:
  - name: customers
    view: "reach.customers_v; drop table x"
    schema: contacts
    primary_key: [customer_id]
    fields:
      id: customer_id
    colour: blue
`;

describe('reach-puller apply', { timeout: 180_000 }, () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'rp-apply-'));
    await mkdir(path.join(dir, 'mixed'));
    await writeFile(path.join(dir, 'mixed', 'glow.yaml'), GOOD);
    await writeFile(path.join(dir, 'mixed', 'bright.yaml'), BAD);
    await mkdir(path.join(dir, 'good'));
    await writeFile(path.join(dir, 'good', 'glow.yaml'), GOOD);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a directory with one bad file: exit 2, every problem with file:line and path, nothing registered', async () => {
    const env = { DATABASE_URL: await freshPgDatabase('rp_cli_apply_bad') };
    const r = await runCli(['apply', path.join(dir, 'mixed')], { env });
    expect(r.code).toBe(2);
    const file = path.join(dir, 'mixed', 'bright.yaml');
    expect(r.stderr).toContain(`${file}:7 source.password: plaintext password refused`);
    expect(r.stderr).toContain(`${file}:8 schedule: "every minute" is not a valid cron expression`);
    expect(r.stderr).toContain(`${file}:9 verify_schedule: "weekly" is not a valid cron expression`);
    expect(r.stderr).toContain(`${file}:12 streams[0].view: must be`);
    expect(r.stderr).toContain(`${file}:11 streams[0].cursor: required`);
    expect(r.stderr).toContain(`${file}:17 streams[0].colour: unknown key`);
    expect(r.stderr).not.toContain('hunter2-plaintext');
    const list = await runCli(['connectors', 'list', '--json'], { env });
    expect(JSON.parse(list.stdout)).toEqual([]);
  });

  it('registers a good directory and shows secrets only as their reference', async () => {
    const env = { DATABASE_URL: await freshPgDatabase('rp_cli_apply_good') };
    const dry = await runCli(['apply', '--dry-run', path.join(dir, 'good')], { env });
    expect(dry.code).toBe(0);
    expect(JSON.parse((await runCli(['connectors', 'list', '--json'], { env })).stdout)).toEqual([]);
    const r = await runCli(['apply', path.join(dir, 'good')], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('+ glow');
    const list = JSON.parse((await runCli(['connectors', 'list', '--json'], { env })).stdout);
    expect(list).toEqual([expect.objectContaining({ id: 'glow', tenant: 'glow-salon-042', source: 'postgres://reach_ro@127.0.0.1:5432/partner' })]);
    const show = await runCli(['connectors', 'show', 'glow'], { env });
    expect(JSON.parse(show.stdout).config.source.password).toBe('${env:GLOW_DB_PASSWORD}');
    expect((await runCli(['apply', path.join(dir, 'good')], { env })).stdout).toContain('unchanged 1');
    // The partner database does not exist here: the pull fails, and says so with exit 1.
    const pull = await runCli(['pull', 'glow'], { env: { ...env, GLOW_DB_PASSWORD: 'unused-with-trust', REACH_PULLER_CONNECTOR_ENV: 'GLOW_DB_PASSWORD' } });
    expect(pull.code).toBe(1);
    expect(pull.stdout).toMatch(/customers\s+failed/);
  });

  it('works on the embedded store in a fresh directory with no DATABASE_URL', async () => {
    const home = await mkdtemp(path.join(tmpdir(), 'rp-home-'));
    try {
      const env = { DATABASE_URL: '', REACH_PULLER_HOME: path.join(home, '.reach-puller') };
      const m = await runCli(['migrate'], { env, cwd: home });
      expect(m.code).toBe(0);
      expect(m.stdout).toMatch(/embedded store at .*: schema version \d+, applied 0001_init/);
      expect((await runCli(['apply', path.join(dir, 'good')], { env, cwd: home })).code).toBe(0);
      const list = JSON.parse((await runCli(['connectors', 'list', '--json'], { env, cwd: home })).stdout);
      expect(list.map((c: { id: string }) => c.id)).toEqual(['glow']);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it('answers usage errors with exit 2 and an unknown connector with exit 1', async () => {
    expect((await runCli(['pull'])).code).toBe(2);
    const env = { DATABASE_URL: await freshPgDatabase('rp_cli_apply_usage') };
    const r = await runCli(['connectors', 'show', 'nope'], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('RP_NOT_FOUND');
  });
});
