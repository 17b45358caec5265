/** The ops API's OpenAPI 3.1 document, served at /openapi.json. Kept beside the routes in ops-api.ts. */

const error = { $ref: '#/components/schemas/Error' };
const connectorId = { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,127}$' } };
const backfill = { $ref: '#/components/schemas/Backfill' };
const backfillId = { name: 'backfill', in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9]{1,18}$' } };
const json = (schema: object, description = 'OK') => ({ description, content: { 'application/json': { schema } } });
// Every list pages by keyset (store/keyset-page.ts): `limit` rows, then `cursor` = the answer's `next`.
const pageParameters = [
  { name: 'limit', in: 'query', description: 'Rows per page', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
  { name: 'cursor', in: 'query', description: 'The `next` of the previous page, unchanged; leave out for the first page', schema: { type: 'string' } },
];
const page = (items: object) => json({
  type: 'object', required: ['items'],
  properties: {
    items: { type: 'array', items },
    next: { type: 'string', description: 'Pass as `cursor` for the next page; absent on the last page' },
  },
});
const errors = { 400: json(error, 'Invalid request'), 401: json(error, 'Missing or wrong bearer token'), 404: json(error, 'Unknown connector or stream') };

export const OPENAPI_DOCUMENT = {
  openapi: '3.1.0',
  info: {
    title: 'reach-puller ops API',
    version: '0.1.0',
    description: 'Operate a reach-puller `serve` process. Every route except /healthz and /readyz needs `Authorization: Bearer $REACH_PULLER_OPS_TOKEN`.',
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    schemas: {
      Error: {
        type: 'object', required: ['error', 'message'],
        properties: {
          error: { type: 'string', description: 'Stable error code (RP_...)' },
          message: { type: 'string' },
          advice: { type: 'string' },
          problems: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, line: { type: 'integer' }, message: { type: 'string' } } } },
        },
      },
      StreamStatus: {
        type: 'object',
        properties: {
          tenant: { type: 'string' }, connector: { type: 'string' }, stream: { type: 'string' },
          state: { enum: ['ok', 'running', 'backfilling', 'failing', 'parked', 'disabled'] },
          lastRun: { type: ['object', 'null'] }, watermark: { type: ['object', 'null'] },
          lagSeconds: { type: ['integer', 'null'] }, lagObjectiveSeconds: { type: ['integer', 'null'] }, lagBreached: { type: 'boolean' },
          nextRun: { type: ['string', 'null'], format: 'date-time' }, lastError: { type: ['string', 'null'] }, parkedReason: { type: ['string', 'null'] },
          unread: {
            type: ['object', 'null'],
            description: 'Rows the last finished pull counted and could not read; null before the first pull',
            required: ['runId', 'nullCursor', 'nullKey', 'futureCursor'],
            properties: {
              runId: { type: 'string' },
              nullCursor: { type: 'integer', description: 'The cursor (and its fallback) is NULL' },
              nullKey: { type: 'integer', description: 'The cursor is set but a primary-key column is NULL' },
              futureCursor: { type: 'integer', description: 'The cursor is ahead of the partner clock by more than the settle window: usually a wrong `timezone`' },
            },
          },
          backfill: { type: ['object', 'null'], description: 'The running backfill: id, percent, rowsDone, rowsPerSecond, etaSeconds' },
        },
      },
      Run: {
        type: 'object',
        description: 'One run: id, stream, kind, status, startedAt, endedAt, counts (read, sent, unchanged, rejected, deleted, '
          + 'nullCursor, nullKey, futureCursor, pages), watermarkAfter, error. Only pulls count nullCursor, nullKey and futureCursor.',
      },
      Rejection: { type: 'object', description: 'A quarantined record: stream, externalId, sourceKey, fields, reason' },
      Backfill: {
        type: 'object',
        description: 'A backfill and its progress: id, connector, stream, state, from, to, rowsEstimated, rowsDone, percent, rowsPerSecond, etaSeconds, chunks',
      },
    },
  },
  security: [{ bearer: [] }],
  paths: {
    '/healthz': { get: { summary: 'The process is up', security: [], responses: { 200: json({ type: 'object' }) } } },
    '/readyz': { get: { summary: 'The state store answers', security: [], responses: { 200: json({ type: 'object' }), 503: json(error, 'Store unreachable') } } },
    '/metrics': { get: { summary: 'Prometheus metrics', responses: { 200: { description: 'text/plain exposition format' }, 401: errors[401] } } },
    '/openapi.json': { get: { summary: 'This document', responses: { 200: json({ type: 'object' }) } } },
    '/status': {
      get: {
        summary: 'One row per stream', parameters: [{ name: 'connector', in: 'query', schema: { type: 'string' } }],
        responses: { 200: json({ type: 'array', items: { $ref: '#/components/schemas/StreamStatus' } }), 401: errors[401] },
      },
    },
    '/connectors/{id}': {
      put: {
        summary: 'Register or update a connector (validated like `apply`)',
        parameters: [connectorId],
        requestBody: {
          required: true,
          content: { 'application/yaml': { schema: { type: 'string' } }, 'application/json': { schema: { type: 'object' } } },
        },
        responses: { 200: json({ type: 'object', properties: { created: { type: 'array' }, updated: { type: 'array' }, unchanged: { type: 'array' } } }), ...errors },
      },
    },
    '/connectors/{id}/enable': { post: { summary: 'Enable scheduled pulls and unpark every stream', parameters: [connectorId], responses: { 200: json({ type: 'object' }), ...errors } } },
    '/connectors/{id}/disable': { post: { summary: 'Disable scheduled and triggered pulls', parameters: [connectorId], responses: { 200: json({ type: 'object' }), ...errors } } },
    '/connectors/{id}/pull': {
      post: {
        summary: 'Start a pull now (every stream, or one)', parameters: [connectorId],
        requestBody: { content: { 'application/json': { schema: { type: 'object', properties: { stream: { type: 'string' } } } } } },
        responses: { 202: json({ type: 'object', properties: { started: { type: 'array' }, skipped: { type: 'array' } } }), ...errors },
      },
    },
    '/connectors/{id}/verify': {
      post: {
        summary: 'Verify that what each stream (or one) delivered equals its view; with repair, send what differs. 202 and run history (kind verify), or the reports with wait=true',
        parameters: [connectorId],
        requestBody: { content: { 'application/json': { schema: { type: 'object', properties: {
          stream: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, repair: { type: 'boolean' },
          maxRowsPerSecond: { type: 'integer' }, wait: { type: 'boolean' },
        } } } } },
        responses: { 200: json({ type: 'array' }), 202: json({ type: 'object', properties: { connector: { type: 'string' }, started: { type: 'array' } } }), ...errors },
      },
    },
    '/connectors/{id}/streams/{stream}/unpark': {
      post: {
        summary: 'Unpark a stream parked by a permanent error',
        parameters: [connectorId, { name: 'stream', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { 200: json({ type: 'object' }), ...errors },
      },
    },
    '/connectors/{id}/runs': {
      get: {
        summary: 'Run history, newest first, a page at a time',
        parameters: [connectorId, { name: 'stream', in: 'query', schema: { type: 'string' } }, ...pageParameters],
        responses: { 200: page({ $ref: '#/components/schemas/Run' }), ...errors },
      },
    },
    '/connectors/{id}/rejects': {
      get: {
        summary: 'Quarantined records (open ones unless all=true), by stream then oldest first, a page at a time',
        parameters: [connectorId, { name: 'stream', in: 'query', schema: { type: 'string' } }, { name: 'all', in: 'query', schema: { type: 'boolean' } }, ...pageParameters],
        responses: { 200: page({ $ref: '#/components/schemas/Rejection' }), ...errors },
      },
    },
    '/connectors/{id}/backfills': {
      post: {
        summary: 'Start a backfill of a stream in this process (range and chunks optional)', parameters: [connectorId],
        requestBody: {
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: { stream: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, chunks: { type: 'integer' }, maxRowsPerSecond: { type: 'integer' }, checkpointRows: { type: 'integer' } },
              },
            },
          },
        },
        responses: { 202: json(backfill), ...errors },
      },
    },
    '/backfills': {
      get: {
        summary: 'Backfills with their progress, newest first, a page at a time', parameters: pageParameters,
        responses: { 200: page(backfill), 400: errors[400], 401: errors[401] },
      },
    },
    '/backfills/{backfill}': { get: { summary: 'One backfill with its progress', parameters: [backfillId], responses: { 200: json(backfill), ...errors } } },
    '/backfills/{backfill}/cancel': { post: { summary: 'Stop a running backfill after its current page', parameters: [backfillId], responses: { 200: json(backfill), ...errors } } },
    '/backfills/{backfill}/resume': { post: { summary: 'Continue a backfill from its checkpoints', parameters: [backfillId], responses: { 202: json(backfill), 409: json(error, 'Running elsewhere'), ...errors } } },
  },
} as const;
