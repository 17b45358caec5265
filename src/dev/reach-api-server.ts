/**
 * A local stand-in for Reach's resources batch API over real HTTP on 127.0.0.1, for tests
 * and the demo. It follows docs/reach-platform.md; where the docs are silent the choice is
 * marked "assumption". Faults (429, 503, slow answers) can be injected to exercise retries.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { fastify } from 'fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AcceptedBatch, ApiEnvelope, BatchType } from '../sinks/reach-api/reach-api-types.ts';
import { ResourceBatches } from './resource-batches.ts';
import type { BatchOptions, ResourceBatchesOptions } from './resource-batches.ts';

/** Injected faults; rates are probabilities 0..1 drawn per request. */
export interface Faults {
  rate429?: number;
  rate503?: number;
  /** Probability that an answer is delayed by `slowMs` (then answered normally or faulted). */
  rateSlow?: number;
  slowMs?: number;
  /** Retry-After sent with a 429 (default 1). */
  retryAfterSeconds?: number;
}

export interface ReachApiServerOptions extends ResourceBatchesOptions {
  /** The partner key every request must present as `Authorization: Bearer <token>`. */
  token: string;
  /** Default 0: a random free port. */
  port?: number;
  faults?: Faults;
  /** Seed of the fault PRNG, for reproducible storms (default: time-based). */
  seed?: number;
}

/** One answered request, for assertions and the demo. */
export interface RequestLogEntry {
  method: string;
  path: string;
  status: number;
  /** Resources or external ids in the body (0 when none). */
  recordCount: number;
  tenant: string | undefined;
  /** When the answer was sent (epoch ms). */
  at: number;
}

export interface ReachApiServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  readonly requests: RequestLogEntry[];
  /** Current records of a tenant and schema, by external id. */
  resources(tenant: string, schema: string): Map<string, Record<string, unknown>>;
  setFaults(faults: Faults): void;
  /** Resolves once every accepted batch has been processed. */
  settled(): Promise<void>;
  /** Forgets every processed batch (GET answers 404), as a retention period would. */
  expireBatches(): void;
  close(): Promise<void>;
}

const MAX_RESOURCES = 1000;
const MAX_LIST_LIMIT = 100;
// Record bodies are partner rows: far above fastify's 1 MiB default for 1000 of them.
const BODY_LIMIT = 64 * 1024 * 1024;

type Query = Record<string, string | undefined>;
type SchemaRequest = FastifyRequest<{ Params: { schema: string }; Querystring: Query }>;

/** Starts the server and resolves once it listens. */
export async function startReachApiServer(options: ReachApiServerOptions): Promise<ReachApiServer> {
  const random = mulberry32(options.seed ?? Date.now());
  let faults: Faults = { ...options.faults };
  const store = new ResourceBatches(options);
  const requests: RequestLogEntry[] = [];
  const app = fastify({ bodyLimit: BODY_LIMIT });

  app.setErrorHandler((error: { statusCode?: number; message: string }, _request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
    return fail(reply, status, error.message);
  });
  app.setNotFoundHandler((request, reply) => fail(reply, 404, `No route ${request.method} ${pathOf(request)}`));

  app.addHook('onResponse', async (request, reply) => {
    requests.push({
      method: request.method,
      path: pathOf(request),
      status: reply.statusCode,
      recordCount: countRecords(request.body),
      tenant: tenantOf(request),
      at: Date.now(),
    });
  });

  // Faults come first, like a gateway in front of the API: a faulted request applies nothing.
  app.addHook('preHandler', async (request, reply) => {
    if (random() < (faults.rateSlow ?? 0)) await sleep(faults.slowMs ?? 1000);
    const draw = random();
    if (draw < (faults.rate429 ?? 0)) {
      reply.header('Retry-After', String(faults.retryAfterSeconds ?? 1));
      return fail(reply, 429, 'Too many requests; retry after the Retry-After delay');
    }
    if (draw < (faults.rate429 ?? 0) + (faults.rate503 ?? 0)) {
      return fail(reply, 503, 'Service temporarily unavailable');
    }
    if (request.headers.authorization !== `Bearer ${options.token}`) {
      return fail(reply, 401, 'Missing or invalid bearer token');
    }
    return undefined;
  });

  const write = (type: BatchType) => async (request: SchemaRequest, reply: FastifyReply) => {
    const tenant = tenantOf(request);
    if (!tenant) return fail(reply, 400, 'Missing tenant: send the X-Tenant-Id (or reach-tenant-id) header');
    const schema = store.resolveSchema(request.params.schema);
    if (!schema) return fail(reply, 404, `Schema definition '${request.params.schema}' not found`);
    const batchOptions = parseOptions(request.query);
    if (typeof batchOptions === 'string') return fail(reply, 400, batchOptions);
    const items = type === 'PARTNER_RESOURCE_BATCH_DELETE' ? parseExternalIds(request.body) : parseResources(request.body);
    if (typeof items === 'string') return fail(reply, 400, items);
    const batch = store.submit(type, tenant, schema, items, batchOptions);
    const data: AcceptedBatch = {
      batchId: batch.id,
      message: `${items.length} records queued for processing`,
      recordCount: items.length,
      schemaDefinitionId: schema.definitionId,
    };
    return reply.code(202).send({ success: true, message: 'Batch accepted', data } satisfies ApiEnvelope<AcceptedBatch>);
  };

  app.post('/api/resources/:schema/batch', write('PARTNER_RESOURCE_BATCH_UPSERT'));
  app.patch('/api/resources/:schema/batch', write('PARTNER_RESOURCE_BATCH_PATCH'));
  // The docs name the batch type PARTNER_RESOURCE_BATCH_DELETE but not its route; this
  // route and its body `{"externalIds": [...]}` are an assumption.
  app.delete('/api/resources/:schema/batch', write('PARTNER_RESOURCE_BATCH_DELETE'));

  app.get('/api/batches/:id', async (request: FastifyRequest<{ Params: { id: string } }>, reply) => {
    const batch = store.get(request.params.id);
    if (!batch) return fail(reply, 404, `Batch '${request.params.id}' not found`);
    return { success: true, message: 'OK', data: batch };
  });

  app.get('/api/batches', async (request: FastifyRequest<{ Querystring: Query }>, reply) => {
    const { cursor, type } = request.query;
    const limit = request.query.limit === undefined ? 50 : Number(request.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
      return fail(reply, 400, `limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
    }
    return { success: true, message: 'OK', data: store.list(cursor, limit, type) };
  });

  await app.listen({ host: '127.0.0.1', port: options.port ?? 0 });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('The dev server has no TCP address');

  return {
    url: `http://127.0.0.1:${address.port}`,
    requests,
    resources: (tenant, schema) => store.resources(tenant, schema),
    setFaults: (next) => {
      faults = { ...next };
    },
    settled: () => store.settled(),
    expireBatches: () => store.expireBatches(),
    close: async () => {
      store.close();
      await app.close();
    },
  };
}

function fail(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).send({ success: false, message } satisfies ApiEnvelope<never>);
}

function pathOf(request: FastifyRequest): string {
  return request.url.split('?')[0]!;
}

function tenantOf(request: FastifyRequest): string | undefined {
  const value = request.headers['x-tenant-id'] ?? request.headers['reach-tenant-id'];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function countRecords(body: unknown): number {
  if (!body || typeof body !== 'object') return 0;
  const { resources, externalIds } = body as { resources?: unknown; externalIds?: unknown };
  const list = Array.isArray(resources) ? resources : externalIds;
  return Array.isArray(list) ? list.length : 0;
}

/** Parses the documented query options; returns an error message when one is invalid. */
function parseOptions(query: Query): BatchOptions | string {
  const onConflict = query.onconflict ?? 'upsert';
  if (onConflict !== 'upsert' && onConflict !== 'reject') return 'onconflict must be upsert or reject';
  const ignore = query.ignoreUnknownFields ?? 'false';
  if (ignore !== 'true' && ignore !== 'false') return 'ignoreUnknownFields must be true or false';
  const wait = Number(query.dependencyWaitTimeout ?? 0);
  if (!Number.isInteger(wait) || wait < 0 || wait > 86400) {
    return 'dependencyWaitTimeout must be an integer number of seconds from 0 to 86400';
  }
  return { onConflict, ignoreUnknownFields: ignore === 'true', dependencyWaitTimeout: wait };
}

function parseResources(body: unknown): Record<string, unknown>[] | string {
  const resources = (body as { resources?: unknown } | null)?.resources;
  const problem = checkList('resources', resources);
  if (problem) return problem;
  const list = resources as unknown[];
  const bad = list.findIndex((r) => !r || typeof r !== 'object' || Array.isArray(r));
  return bad >= 0 ? `resources[${bad}] must be an object` : (list as Record<string, unknown>[]);
}

function parseExternalIds(body: unknown): string[] | string {
  const ids = (body as { externalIds?: unknown } | null)?.externalIds;
  const problem = checkList('externalIds', ids);
  if (problem) return problem;
  const list = ids as unknown[];
  const bad = list.findIndex((id) => typeof id !== 'string' && typeof id !== 'number');
  return bad >= 0 ? `externalIds[${bad}] must be a string or a number` : list.map(String);
}

function checkList(name: string, value: unknown): string | undefined {
  if (!Array.isArray(value)) return `The body must be {"${name}": [...]}`;
  if (value.length === 0) return `${name} is empty`;
  if (value.length > MAX_RESOURCES) return `${name} holds ${value.length} items; at most ${MAX_RESOURCES} per request`;
  return undefined;
}

/** A small seeded PRNG (mulberry32): the same seed draws the same fault sequence. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
