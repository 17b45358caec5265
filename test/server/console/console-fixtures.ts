/**
 * Shared by the console tests: a `serve`-like ops API (scheduler, backfills, console) on a lab
 * store, and plain-HTTP helpers that log in and send forms as a browser of the same origin would.
 */
import type { FastifyInstance } from 'fastify';
import { BackgroundBackfills } from '../../../src/backfill/background-backfills.ts';
import { Scheduler } from '../../../src/scheduler/scheduler.ts';
import { buildOpsApi } from '../../../src/server/ops-api.ts';
import { PullerMetrics } from '../../../src/server/puller-metrics.ts';
import { capturedLog, type LogEvent } from '../../scheduler/ops-fixtures.ts';
import type { Lab, LabStore } from '../../fixture.ts';

export const CONSOLE_TOKEN = 'console-ops-token-for-tests-8d2e';

export interface ConsoleServer {
  store: LabStore;
  scheduler: Scheduler;
  backfills: BackgroundBackfills;
  app: FastifyInstance;
  base: string;
  events: LogEvent[];
  close(): Promise<void>;
}

/** Starts the ops API with its console on a fresh store; transient failures are not retried, so a broken source fails at once. */
export async function startConsole(lab: Lab): Promise<ConsoleServer> {
  const store = await lab.store();
  const captured = capturedLog();
  const metrics = new PullerMetrics();
  const scheduler = new Scheduler({ db: store.db, log: captured.log, metrics, refreshSeconds: 1, retry: { attempts: 1, baseMs: 10, maxMs: 10 } });
  await scheduler.start();
  const backfills = new BackgroundBackfills({ store: store.db, log: captured.log });
  const app = buildOpsApi({ db: store.db, scheduler, metrics, backfills, token: CONSOLE_TOKEN, log: captured.log });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    store, scheduler, backfills, app, base, events: captured.events,
    async close() {
      await app.close();
      await backfills.stop();
      await scheduler.stop();
    },
  };
}

export interface Answer {
  status: number;
  text: string;
  headers: Headers;
}

/** A request as a same-origin page would send it (Origin and Sec-Fetch-Site), unless `headers` says otherwise. */
export async function send(base: string, method: string, path: string, options: { cookie?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { origin: base, 'sec-fetch-site': 'same-origin', ...options.headers };
  if (options.cookie) headers.cookie = options.cookie;
  let body: string | undefined;
  if (options.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(options.form).toString();
  }
  for (const [k, v] of Object.entries(headers)) if (v === '') delete headers[k];
  const res = await fetch(`${base}${path}`, { method, headers, body, redirect: 'manual' });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** Logs in; answers the session cookie (`name=value`) and the session's CSRF token read from a page. */
export async function login(base: string, operator = 'Test Operator'): Promise<{ cookie: string; csrf: string }> {
  const answer = await send(base, 'POST', '/console/login', { form: { operator, token: CONSOLE_TOKEN } });
  const setCookie = answer.headers.get('set-cookie');
  if (answer.status !== 303 || !setCookie) throw new Error(`login failed: ${answer.status} ${answer.text.slice(0, 300)}`);
  const cookie = setCookie.split(';')[0]!;
  const page = await send(base, 'GET', '/console', { cookie });
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1];
  if (!csrf) throw new Error('no CSRF token on the overview');
  return { cookie, csrf };
}
