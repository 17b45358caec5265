/** Shared by the scheduler and ops API tests: a log that can be read back, polling, slow views. */
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import type { Logger } from '../../src/log.ts';
import type { Partner } from '../helpers/partner.ts';

export interface LogEvent {
  msg: string;
  connector?: string;
  stream?: string;
  [key: string]: unknown;
}

/** A logger whose JSON events are kept in memory. */
export function capturedLog(level = 'info'): { log: Logger; events: LogEvent[] } {
  const events: LogEvent[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line.trim()) events.push(JSON.parse(line) as LogEvent);
      done();
    },
  });
  return { log: pino({ level }, sink), events };
}

/** Polls until `check` is true; fails after `timeoutMs` with `what`. */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/**
 * A table and view of `rows` customers (id order = cursor order) on the partner; with
 * `pageDelaySeconds`, every query of the view sleeps that long, so a run spans seconds.
 */
export async function customersView(partner: Partner, name: string, rows: number, pageDelaySeconds = 0): Promise<void> {
  const slow = pageDelaySeconds > 0 ? ` where (select ${name}_delay())` : '';
  await partner.exec(
    `create table t_${name} (id bigint primary key, email text, updated_at timestamptz not null)`,
    `insert into t_${name} select i, 'u' || i || '@example.com', timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second'
       from generate_series(1, ${rows}) i`,
    ...(pageDelaySeconds > 0
      ? [`create function ${name}_delay() returns boolean language sql volatile as $$ select pg_sleep(${pageDelaySeconds}); select true $$`]
      : []),
    `create view v_${name} as select id, email, updated_at from t_${name}${slow}`,
  );
  await partner.grantReadOnly();
}

/** Connector YAML reading `v_<view>` into contacts. */
export function customersConnector(partner: Partner, view: string, options: { schedule?: string; pageSize?: number; port?: number; settle?: number; extra?: string } = {}): string {
  let source = partner.sourceYaml(`  settle_seconds: ${options.settle ?? 0}`);
  if (options.port) source = source.replace(/port: \d+/, `port: ${options.port}`);
  return `
tenant: tenant-${view}
${source}
${options.schedule ? `schedule: "${options.schedule}"` : ''}
${options.extra ?? ''}
streams:
  - name: customers
    view: v_${view}
    schema: contacts
    primary_key: [id]
    cursor: updated_at
    page_size: ${options.pageSize ?? 50}
    fields:
      id: id
      email: email
`;
}

export { sleep };
