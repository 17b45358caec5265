/**
 * The connector file contract: one YAML file per tenant connector.
 * This zod schema is the single source; `npm run schema` writes it as JSON Schema to
 * `connectors/connector.schema.json` for editors, and a test keeps the two equal.
 */
import { z } from 'zod';

/** A SQL identifier the query builder will quote: letters, digits, `_`, `$`; no quotes, dots or spaces. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;
export const identifier = z
  .string()
  .regex(IDENTIFIER, 'must be a plain identifier (letters, digits, _ or $, starting with a letter or _)');

/** `schema.view` or `view`, each part a plain identifier. */
export const qualifiedName = z
  .string()
  .regex(/^([A-Za-z_][A-Za-z0-9_$]{0,62}\.)?[A-Za-z_][A-Za-z0-9_$]{0,62}$/, 'must be `view` or `schema.view` made of plain identifiers');

/** A secret reference; plaintext is refused by the loader before this schema runs. */
export const SECRET_REFERENCE = /^\$\{(env|file|secret):([^}]+)\}$/;
export const secretReference = z
  .string()
  .regex(SECRET_REFERENCE, 'must be a reference: ${env:NAME}, ${file:PATH} or ${secret:NAME}; plaintext passwords are refused');

/** Reach schema definition names: URL-safe, unique case-insensitively. */
export const reachSchemaName = z.string().regex(/^[A-Za-z0-9_-]{1,100}$/, 'must be letters, digits, - or _');

/** A named transform, bare (`trim`) or with options (`{ phone_e164: { region: US } }`). */
export const transformSpec = z.union([
  z.enum(['trim', 'lowercase', 'uppercase', 'empty_to_null', 'phone_e164', 'iso8601', 'decimal', 'integer', 'json', 'boolean', 'string']),
  z.strictObject({ phone_e164: z.strictObject({ region: z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166 alpha-2 region like US') }) }),
  z.strictObject({ map: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])) }),
  z.strictObject({ default: z.union([z.string(), z.number(), z.boolean()]) }),
]);
export type TransformSpec = z.infer<typeof transformSpec>;

/** A Reach field's value: a column name, or a column with transforms, or a constant. */
export const fieldSpec = z.union([
  identifier,
  z.strictObject({ column: identifier, transform: z.array(transformSpec).optional() }),
  z.strictObject({ const: z.union([z.string(), z.number(), z.boolean()]) }),
]);
export type FieldSpec = z.infer<typeof fieldSpec>;

/** A Reach field path: `email`, `address.city`. */
const fieldPath = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/, 'must be a field name or dotted path');

export const streamSchema = z.strictObject({
  name: identifier.describe('Stream name, unique within the connector'),
  view: qualifiedName.describe('Schema-qualified view (or table) to read'),
  schema: reachSchemaName.describe('Reach schema definition name'),
  primary_key: z.array(identifier).min(1).describe('Columns that identify a row in the view'),
  cursor: identifier.describe('Watermark column: grows when a row changes'),
  cursor_fallback: identifier.optional().describe('Column used when the cursor is NULL (COALESCE(cursor, fallback))'),
  null_cursor: z.enum(['report', 'fail']).default('report').describe('What a run does with rows whose cursor is NULL'),
  filter: z.record(identifier, z.union([z.string(), z.number(), z.boolean()])).optional()
    .describe('Equality filters for shared partner databases, bound as parameters'),
  settle_seconds: z.number().int().min(0).max(86400).optional().describe('Settle window; default source.settle_seconds'),
  timezone: z.string().min(1).optional().describe("Zone of this view's wall-clock columns; default source.timezone"),
  lookback_seconds: z.number().int().min(0).max(31 * 86400).optional().describe('Re-read this trailing window each run'),
  page_size: z.number().int().min(1).max(100000).optional().describe('Rows per page; default 5000'),
  reject_threshold: z.number().min(0).max(1).optional().describe('Fail the run when more than this share of records is rejected (default 0.05)'),
  max_rows_per_run: z.number().int().min(1).optional()
    .describe('Stop a run cleanly after the page that reaches this many rows read; the next run continues'),
  max_bytes_per_run: z.number().int().min(1).optional()
    .describe('Stop a run cleanly after the page that reaches this many bytes read (rows as JSON); the next run continues'),
  deleted: z.strictObject({
    column: identifier,
    boolean: z.boolean().optional().describe('true: the column is a flag; false/absent: non-NULL means deleted'),
  }).optional(),
  fields: z.record(fieldPath, fieldSpec).refine((f) => Object.keys(f).length > 0, 'must map at least one field'),
});
export type StreamConfig = z.output<typeof streamSchema>;

// Earlier, PostgreSQL-only names of password_auth values, still read.
const LEGACY_PASSWORD_AUTH = { scram: 'challenge', md5: 'hash', cleartext: 'password' } as const;
const passwordAuth = z.union([
  z.enum(['challenge', 'hash', 'password']),
  z.enum(['scram', 'md5', 'cleartext']).transform((v) => LEGACY_PASSWORD_AUTH[v]).describe('Earlier names: scram, md5, cleartext'),
]);

export const sourceSchema = z.strictObject({
  dialect: z.enum(['postgres', 'mysql', 'mssql']),
  host: z.string().min(1).max(253),
  port: z.number().int().min(1).max(65535).optional(),
  database: z.string().min(1).max(128),
  user: z.string().min(1).max(128),
  password: secretReference,
  timezone: z.string().min(1).default('UTC').describe('Zone of timestamp-without-time-zone / DATETIME values'),
  ssl: z.strictObject({
    mode: z.enum(['disable', 'require', 'verify-full']).default('require'),
    ca: z.string().optional().describe('Path to the CA certificate for verify-full'),
  }).default({ mode: 'require' }),
  max_connections: z.number().int().min(1).max(64).default(2),
  statement_timeout_seconds: z.number().int().min(1).max(3600).default(60),
  connect_timeout_seconds: z.number().int().min(1).max(300).default(15)
    .describe('Client-side bound on opening a connection (TCP, TLS, login)'),
  settle_seconds: z.number().int().min(0).max(86400).default(120),
  require_read_only_user: z.boolean().default(false),
  password_auth: z.array(passwordAuth).min(1).prefault(['challenge'])
    .describe('What a login may send to whoever answers (src/sources/password-auth.ts). challenge: a proof bound to the ' +
      "server's challenge, always answered (PostgreSQL SCRAM; MySQL mysql_native_password, caching_sha2_password fast auth). " +
      'hash: a hash that logs in again (PostgreSQL md5). password: the password itself (PostgreSQL cleartext; MySQL ' +
      'caching_sha2_password full auth, sha256_password, mysql_clear_password). Allow hash or password only with ssl.mode verify-full'),
});
export type SourceConfig = z.output<typeof sourceSchema>;

export const connectorSchema = z.strictObject({
  tenant: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be the Reach tenant external id (letters, digits, . _ -)'),
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,127}$/, 'must be lower-case letters, digits, _ or -').optional()
    .describe('Connector id; default: the file name without extension'),
  source: sourceSchema,
  schedule: z.string().optional().describe('Cron expression; absent = no scheduled pulls (backfill only)'),
  schedule_timezone: z.string().default('UTC').describe('IANA zone of schedule and verify_schedule'),
  verify_schedule: z.string().optional()
    .describe('Cron expression of a scheduled verify of every stream in serve (report only, never repairs); absent = none'),
  default_phone_region: z.string().regex(/^[A-Z]{2}$/).optional(),
  lag_objective_seconds: z.number().int().min(1).optional(),
  reach: z.strictObject({
    api_url: z.string().url().optional(),
    token: secretReference.optional(),
  }).optional().describe('Overrides REACH_API_URL / REACH_API_TOKEN for this connector'),
  streams: z.array(streamSchema).min(1),
});
export type ConnectorConfig = z.output<typeof connectorSchema>;
