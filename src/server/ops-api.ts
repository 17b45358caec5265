/**
 * The ops HTTP API (fastify): register, enable/disable, trigger, unpark, status, runs,
 * rejects, backfills (start, list, progress, cancel, resume), /metrics, /healthz, /readyz and
 * /openapi.json, and the ops console's pages under /console (console/console.ts, behind a
 * login with the same token). Every other route but the two health checks needs the bearer token; the lists
 * (runs, rejects, backfills) answer a page at a time, `{ items, next }`. Answers carry no secrets: connector configs hold secret
 * references only, and error text is scrubbed.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { sql, type Kysely } from 'kysely';
import { ConfigError, PullerError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import { streamStatuses } from '../scheduler/stream-status.ts';
import { listRuns } from '../scheduler/run-history.ts';
import { unparkStreams } from '../scheduler/stream-parking.ts';
import { scrubSecrets } from '../secrets/secret-registry.ts';
import { getConnector, setConnectorEnabled } from '../store/connector-registry.ts';
import { listRejectionPage } from '../store/delivery-state.ts';
import { API_PAGE_PARAMETERS, BACKFILLS_LIST, pageRequest, REJECTS_LIST, RUNS_LIST } from '../store/keyset-page.ts';
import type { StoreSchema } from '../store/schema.ts';
import { OPENAPI_DOCUMENT } from './openapi.ts';
import type { BackgroundBackfills } from '../backfill/background-backfills.ts';
import { backfillProgress, listBackfillPage } from '../backfill/backfill-progress.ts';
import type { BackfillRequest } from '../backfill/run-backfill.ts';
import { OpsActions } from './ops-actions.ts';
import { errorStatus } from './error-status.ts';
import { registerConsole } from './console/console.ts';
import { TokenGuesses } from './token-guesses.ts';
import { SessionKeys } from './console/session.ts';
import type { PullerMetrics } from './puller-metrics.ts';
import { verifyConnector, type VerifyOptions } from '../engine/verify.ts';
import { findStream } from '../engine/stream-plan.ts';

export interface OpsApiOptions {
  db: Kysely<StoreSchema>;
  scheduler: Scheduler;
  metrics: PullerMetrics;
  backfills: BackgroundBackfills;
  token: string;
  log: Logger;
}

// A connector file is a few KB (the loader's own limit is 256 KB).
const BODY_LIMIT = 256 * 1024;
const PUBLIC_ROUTES = new Set(['/healthz', '/readyz']);
const ID = { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,127}$' } as const;
const STREAM = { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_$]{0,62}$' } as const;
// Lists page (store/keyset-page.ts): both arrive as text and are checked there, so a bad one
// is refused as RP_CONFIG_INVALID naming it, like the CLI's --limit and --after.
const PAGE_QUERY = { limit: { type: 'string', maxLength: 16 }, cursor: { type: 'string', maxLength: 2048 } } as const;
type PageQuery = { limit?: string; cursor?: string };

/** Builds the API (not listening yet). */
export function buildOpsApi(options: OpsApiOptions): FastifyInstance {
  const { db, scheduler, metrics, log } = options;
  // Closing the API (serve's shutdown waits for requests in flight) stops actions waiting for a slot of their source.
  const closing = new AbortController();
  const actions = new OpsActions({ ...options, signal: closing.signal });
  const app = Fastify({ bodyLimit: BODY_LIMIT, logger: false });
  app.addHook('preClose', async () => closing.abort(new PullerError('RP_RUN_CANCELLED', 'the ops API is closing')));
  const expected = digest(`Bearer ${options.token}`);
  // Wrong tokens per address, the console's logins included: the token is all a guesser needs.
  const guesses = new TokenGuesses();

  app.addContentTypeParser(['application/yaml', 'application/x-yaml', 'text/yaml', 'text/plain'], { parseAs: 'string' },
    (_req, body, done) => done(null, body));

  app.addHook('onRequest', async (req, reply) => {
    if (req.routeOptions.url !== undefined && PUBLIC_ROUTES.has(req.routeOptions.url)) return;
    // The console's pages check their own session (console/console.ts); the token is never sent by a browser.
    if (req.routeOptions.url?.startsWith('/console')) return;
    const wait = guesses.retryAfterSeconds(req.ip);
    if (wait > 0) {
      await reply.code(429).header('retry-after', String(wait)).send({ error: 'RP_TOO_MANY_GUESSES', message: `too many wrong tokens from this address: try again in ${wait} s` });
      return;
    }
    // Compared as fixed-length digests so the time taken says nothing about the token.
    if (!timingSafeEqual(digest(req.headers.authorization ?? ''), expected)) {
      if (req.headers.authorization !== undefined) guesses.wrong(req.ip);
      await reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'RP_UNAUTHORIZED', message: 'a valid bearer token is required' });
    }
  });

  app.setErrorHandler(async (error, _req, reply) => {
    const status = errorStatus(error);
    if (error instanceof ConfigError) {
      return reply.code(status).send({ error: error.code, message: 'the connector is invalid', advice: error.advice, problems: error.problems.map((p) => ({ ...p, message: scrubSecrets(p.message) })) });
    }
    if (error instanceof PullerError) {
      return reply.code(status).send({ error: error.code, message: scrubSecrets(error.message), advice: error.advice });
    }
    if (status < 500) return reply.code(status).send({ error: 'RP_BAD_REQUEST', message: scrubSecrets((error as Error).message) });
    log.error({ err: error }, 'ops API request failed');
    return reply.code(500).send({ error: 'RP_UNEXPECTED', message: 'internal error; see the server log' });
  });

  registerConsole(app, { db, actions, keys: new SessionKeys(options.token), guesses, log });

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    try {
      await sql`select 1`.execute(db);
      return { ok: true };
    } catch {
      return reply.code(503).send({ error: 'RP_STORE_UNREACHABLE', message: 'the state store does not answer' });
    }
  });
  app.get('/openapi.json', async () => OPENAPI_DOCUMENT);
  app.get('/metrics', async (_req, reply) => {
    metrics.setStreamGauges(await streamStatuses(db));
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  app.get<{ Querystring: { connector?: string } }>('/status', {
    schema: { querystring: { type: 'object', properties: { connector: ID }, additionalProperties: false } },
  }, async (req) => streamStatuses(db, { connector: req.query.connector }));

  app.put<{ Params: { id: string }; Body: unknown }>('/connectors/:id', {
    schema: { params: { type: 'object', properties: { id: ID }, required: ['id'] } },
  }, async (req) => {
    // JSON is YAML: one validation path for both bodies, exactly the one `apply` uses.
    const text = typeof req.body === 'string' ? req.body : JSON.stringify(req.body ?? null);
    return (await actions.register(req.params.id, text)).result;
  });

  app.post<{ Params: { id: string } }>('/connectors/:id/enable', idRoute(), async (req) => {
    await setConnectorEnabled(db, req.params.id, true);
    const unparked = await unparkStreams(db, req.params.id);
    await scheduler.refresh();
    return { connector: req.params.id, enabled: true, unparked };
  });
  app.post<{ Params: { id: string } }>('/connectors/:id/disable', idRoute(), async (req) => {
    await setConnectorEnabled(db, req.params.id, false);
    await scheduler.refresh();
    return { connector: req.params.id, enabled: false };
  });

  app.post<{ Params: { id: string }; Body: { stream?: string } | undefined }>('/connectors/:id/pull', {
    schema: {
      params: { type: 'object', properties: { id: ID }, required: ['id'] },
      body: { type: ['object', 'null'], properties: { stream: STREAM }, additionalProperties: false },
    },
  }, async (req, reply) => {
    return reply.code(202).send(await actions.pull(req.params.id, req.body?.stream));
  });

  app.post<{ Params: { id: string; stream: string } }>('/connectors/:id/streams/:stream/unpark', {
    schema: { params: { type: 'object', properties: { id: ID, stream: STREAM }, required: ['id', 'stream'] } },
  }, async (req) => ({ connector: req.params.id, unparked: await actions.unpark(req.params.id, req.params.stream) }));

  app.get<{ Params: { id: string }; Querystring: { stream?: string } & PageQuery }>('/connectors/:id/runs', {
    schema: {
      params: { type: 'object', properties: { id: ID }, required: ['id'] },
      querystring: { type: 'object', properties: { stream: STREAM, ...PAGE_QUERY }, additionalProperties: false },
    },
  }, async (req) => {
    const page = pageRequest(RUNS_LIST, req.query, API_PAGE_PARAMETERS);
    await getConnector(db, req.params.id);
    return listRuns(db, req.params.id, { stream: req.query.stream }, page);
  });

  app.get<{ Params: { id: string }; Querystring: { stream?: string; all?: boolean } & PageQuery }>('/connectors/:id/rejects', {
    schema: {
      params: { type: 'object', properties: { id: ID }, required: ['id'] },
      querystring: { type: 'object', properties: { stream: STREAM, all: { type: 'boolean' }, ...PAGE_QUERY }, additionalProperties: false },
    },
  }, async (req) => {
    const page = pageRequest(REJECTS_LIST, req.query, API_PAGE_PARAMETERS);
    await getConnector(db, req.params.id);
    return listRejectionPage(db, req.params.id, { stream: req.query.stream, all: req.query.all }, page);
  });

  app.post<{ Params: { id: string }; Body: BackfillBody | undefined }>('/connectors/:id/backfills', {
    schema: {
      params: { type: 'object', properties: { id: ID }, required: ['id'] },
      body: {
        type: ['object', 'null'],
        properties: {
          stream: STREAM, from: { type: 'string', maxLength: 64 }, to: { type: 'string', maxLength: 64 },
          chunks: { type: 'integer', minimum: 1, maximum: 64 }, maxRowsPerSecond: { type: 'integer', minimum: 1 },
          checkpointRows: { type: 'integer', minimum: 1, maximum: 100000 },
        },
        additionalProperties: false,
      },
    },
  }, async (req, reply) => {
    return reply.code(202).send(await actions.startBackfill({ connector: req.params.id, ...req.body }));
  });
  app.post<{ Params: { id: string }; Body: VerifyBody | undefined }>('/connectors/:id/verify', {
    schema: {
      params: { type: 'object', properties: { id: ID }, required: ['id'] },
      body: {
        type: ['object', 'null'],
        properties: {
          stream: STREAM, from: { type: 'string', maxLength: 64 }, to: { type: 'string', maxLength: 64 }, repair: { type: 'boolean' },
          maxRowsPerSecond: { type: 'integer', minimum: 1 }, wait: { type: 'boolean' },
        },
        additionalProperties: false,
      },
    },
  }, async (req, reply) => {
    const connector = await getConnector(db, req.params.id);
    const { wait, ...body } = req.body ?? {};
    if (body.stream) findStream(connector, body.stream);
    const streams = connector.config.streams.map((s) => s.name).filter((name) => !body.stream || name === body.stream);
    const verified = verifyConnector({ store: db, connector, log, ...body }).then((results) => {
      for (const r of results) metrics.recordVerify(connector.tenant, r);
      return results;
    });
    if (wait) return reply.code(200).send(await verified);
    // A verify of a large view takes minutes: its outcome goes to run history (kind `verify`) and the metrics.
    verified.catch((error: unknown) => log.error({ err: error, connector: connector.id }, 'verify failed'));
    return reply.code(202).send({ connector: connector.id, started: streams });
  });
  app.get<{ Querystring: PageQuery }>('/backfills', {
    schema: { querystring: { type: 'object', properties: PAGE_QUERY, additionalProperties: false } },
  }, async (req) => listBackfillPage(db, pageRequest(BACKFILLS_LIST, req.query, API_PAGE_PARAMETERS)));
  app.get<{ Params: { id: string } }>('/backfills/:id', backfillRoute(), async (req) => backfillProgress(db, req.params.id));
  app.post<{ Params: { id: string } }>('/backfills/:id/cancel', backfillRoute(), async (req) => actions.cancelBackfill(req.params.id));
  app.post<{ Params: { id: string } }>('/backfills/:id/resume', backfillRoute(), async (req, reply) => {
    return reply.code(202).send(await actions.resumeBackfill(req.params.id));
  });
  return app;
}

/** A verify request as the API takes it; `wait` answers with the reports instead of 202. */
type VerifyBody = Pick<VerifyOptions, 'stream' | 'from' | 'to' | 'repair' | 'maxRowsPerSecond'> & { wait?: boolean };

/** A backfill request as the API takes it: the connector comes from the URL. */
type BackfillBody = Omit<BackfillRequest, 'connector'>;

function backfillRoute() {
  return { schema: { params: { type: 'object', properties: { id: { type: 'string', pattern: '^[0-9]{1,18}$' } }, required: ['id'] } } };
}

function idRoute() {
  return { schema: { params: { type: 'object', properties: { id: ID }, required: ['id'] } } };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
