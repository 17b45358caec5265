/**
 * The dev server's memory: schema definitions, stored resources and batches, and the
 * asynchronous processing that applies an accepted batch record by record.
 */
import { randomUUID } from 'node:crypto';
import Ajv from 'ajv';
import type { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type {
  BatchErrorDetail,
  BatchInfo,
  BatchList,
  BatchType,
} from '../sinks/reach-api/reach-api-types.ts';
import { mergeResource } from './merge-resource.ts';

/** A schema the server knows: its external id field and, optionally, its JSON Schema body. */
export interface SchemaDefinition {
  externalIdField: string;
  jsonSchema?: Record<string, unknown>;
}

/** A schema resolved from a request path. */
export interface ResolvedSchema {
  name: string;
  definitionId: string;
  externalIdField: string;
  /** Field names the JSON Schema declares; undefined when no schema body is known. */
  properties?: Set<string>;
  validate?: ValidateFunction;
}

/** Query options of a batch write. */
export interface BatchOptions {
  onConflict: 'upsert' | 'reject';
  ignoreUnknownFields: boolean;
  /** Seconds; validated and recorded, but $ref dependencies are not modelled. */
  dependencyWaitTimeout: number;
}

export interface ResourceBatchesOptions {
  /** Known schemas by name; when absent any URL-safe name is accepted. */
  schemas?: Record<string, SchemaDefinition>;
  /** External id field of schemas accepted without a definition (default `id`). */
  externalIdField?: string;
  /** Delay before a batch is processed; default a random 0-5 ms. */
  processingDelayMs?: number;
  /**
   * Apply each accepted batch after its own random delay of up to this many ms, as Reach may:
   * concurrent batches then land out of order, and each reads PROCESSING until it is applied.
   */
  maxApplyDelayMs?: number;
  /** The delay before the n-th accepted batch (from 1) is applied, whole: a test's own out-of-order schedule. */
  applyDelayOf?: (n: number) => number;
  /** List at most this many failed records in a batch's error details (the docs promise none; the counters count them all). */
  maxErrorDetails?: number;
}

// Records applied per tick, so that PROCESSING and partial progress are observable.
const CHUNK = 200;
const SCHEMA_NAME = /^[A-Za-z0-9_-]+$/;

interface Work {
  batch: BatchInfo;
  schema: ResolvedSchema;
  items: unknown[];
  options: BatchOptions;
}

/** Schemas, resources and batches of one dev server. */
export class ResourceBatches {
  readonly #schemas = new Map<string, ResolvedSchema>();
  readonly #acceptAnySchema: boolean;
  readonly #defaultIdField: string;
  readonly #processingDelayMs: number | undefined;
  readonly #applyDelayOf: ((n: number) => number) | undefined;
  readonly #resources = new Map<string, Map<string, Record<string, unknown>>>();
  readonly #batches: BatchInfo[] = [];
  readonly #byId = new Map<string, BatchInfo>();
  /** Cancels of the processing steps still scheduled. */
  readonly #scheduled = new Set<() => void>();
  readonly #maxErrorDetails: number;
  #unfinished = 0;
  #onSettled: (() => void)[] = [];

  constructor(options: ResourceBatchesOptions) {
    this.#maxErrorDetails = options.maxErrorDetails ?? Number.POSITIVE_INFINITY;
    this.#acceptAnySchema = options.schemas === undefined;
    this.#defaultIdField = options.externalIdField ?? 'id';
    this.#processingDelayMs = options.processingDelayMs;
    const max = options.maxApplyDelayMs;
    this.#applyDelayOf = options.applyDelayOf ?? (max === undefined ? undefined : () => Math.floor(Math.random() * (max + 1)));
    // x-pii-type and other vendor keywords are allowed in Reach schemas: strict mode would refuse them.
    const ajv = new Ajv.default({ allErrors: true, strict: false });
    addFormats.default(ajv);
    for (const [name, definition] of Object.entries(options.schemas ?? {})) {
      const body = definition.jsonSchema;
      const properties = body?.properties;
      this.#schemas.set(name.toLowerCase(), {
        name,
        definitionId: randomUUID(),
        externalIdField: definition.externalIdField,
        properties:
          properties && typeof properties === 'object' ? new Set(Object.keys(properties)) : undefined,
        validate: body ? ajv.compile(body) : undefined,
      });
    }
  }

  /** Finds a schema by name (case-insensitive, as Reach keeps names unique that way) or id. */
  resolveSchema(nameOrId: string): ResolvedSchema | undefined {
    const known =
      this.#schemas.get(nameOrId.toLowerCase()) ??
      [...this.#schemas.values()].find((s) => s.definitionId === nameOrId);
    if (known || !this.#acceptAnySchema || !SCHEMA_NAME.test(nameOrId)) return known;
    const created = { name: nameOrId, definitionId: randomUUID(), externalIdField: this.#defaultIdField };
    this.#schemas.set(nameOrId.toLowerCase(), created);
    return created;
  }

  /** Records an accepted batch and schedules its processing. */
  submit(type: BatchType, tenant: string, schema: ResolvedSchema, items: unknown[], options: BatchOptions): BatchInfo {
    const batch: BatchInfo = {
      id: randomUUID(),
      type,
      status: this.#applyDelayOf === undefined ? 'PENDING' : 'PROCESSING',
      tenantId: tenant,
      schemaName: schema.name,
      schemaDefinitionId: schema.definitionId,
      createdAt: new Date().toISOString(),
      completedAt: null,
      progress: {
        totalRecords: items.length,
        processedRecords: 0,
        successfulRecords: 0,
        pendingRecords: items.length,
        failedRecords: 0,
        successRate: 0,
      },
      errors: null,
    };
    this.#batches.push(batch);
    this.#byId.set(batch.id, batch);
    this.#unfinished += 1;
    const delay = this.#applyDelayOf ? this.#applyDelayOf(this.#batches.length) : this.#processingDelayMs ?? Math.floor(Math.random() * 6);
    const work = { batch, schema, items, options };
    // A batch applied out of order is applied whole: records of two batches never interleave.
    this.#later(delay, () => (this.#applyDelayOf ? this.#processAll(work) : this.#process(work, 0, [])));
    return batch;
  }

  /** A batch by id, as `GET /api/batches/{id}` reports it. */
  get(id: string): BatchInfo | undefined {
    return this.#byId.get(id);
  }

  /** Lists batches oldest first; the cursor is the position to resume scanning from. */
  list(cursor: string | undefined, limit: number, type: string | undefined): BatchList {
    const start = cursor ? Number(Buffer.from(cursor, 'base64url').toString()) : 0;
    const batches: BatchInfo[] = [];
    let i = Number.isInteger(start) && start >= 0 ? start : this.#batches.length;
    for (; i < this.#batches.length && batches.length < limit; i++) {
      const batch = this.#batches[i]!;
      if (!type || batch.type === type) batches.push(batch);
    }
    const more = this.#batches.slice(i).some((b) => !type || b.type === type);
    return { batches, nextCursor: more ? Buffer.from(String(i)).toString('base64url') : null };
  }

  /** Current records of one tenant and schema, by external id. */
  resources(tenant: string, schemaName: string): Map<string, Record<string, unknown>> {
    const schema = this.#schemas.get(schemaName.toLowerCase());
    return new Map(schema ? this.#table(tenant, schema) : []);
  }

  /** Resolves once every accepted batch has been processed. */
  settled(): Promise<void> {
    if (this.#unfinished === 0) return Promise.resolve();
    return new Promise((resolve) => this.#onSettled.push(resolve));
  }

  /** Forgets every processed batch, as a retention period would. */
  expireBatches(): void {
    for (let i = this.#batches.length - 1; i >= 0; i--) {
      const batch = this.#batches[i]!;
      if (batch.completedAt === null) continue;
      this.#batches.splice(i, 1);
      this.#byId.delete(batch.id);
    }
  }

  /** Cancels processing still scheduled. */
  close(): void {
    for (const cancel of this.#scheduled) cancel();
    this.#scheduled.clear();
  }

  #later(delayMs: number, fn: () => void): void {
    const run = (): void => {
      this.#scheduled.delete(cancel);
      fn();
    };
    let cancel: () => void;
    if (delayMs > 0) {
      const timer = setTimeout(run, delayMs);
      cancel = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(run);
      cancel = () => clearImmediate(immediate);
    }
    this.#scheduled.add(cancel);
  }

  #processAll(work: Work): void {
    this.#process(work, 0, [], work.items.length);
  }

  #process(work: Work, from: number, failures: BatchErrorDetail[], chunk = CHUNK): void {
    const { batch, items } = work;
    batch.status = 'PROCESSING';
    const end = Math.min(from + chunk, items.length);
    for (let index = from; index < end; index++) {
      const failure = this.#apply(work, items[index]);
      if (failure) failures.push({ index, ...failure });
    }
    const p = batch.progress;
    p.processedRecords = end;
    p.pendingRecords = items.length - end;
    p.failedRecords = failures.length;
    p.successfulRecords = end - failures.length;
    p.successRate = end === 0 ? 1 : p.successfulRecords / end;
    if (failures.length > 0) {
      batch.errors = {
        summary: `${failures.length} of ${items.length} records failed`,
        details: failures.slice(0, this.#maxErrorDetails),
        message: failures[0]!.message,
      };
    }
    if (end < items.length) {
      this.#later(0, () => this.#process(work, end, failures));
      return;
    }
    batch.status = failures.length === items.length && items.length > 0 ? 'FAILED' : 'COMPLETED';
    batch.completedAt = new Date().toISOString();
    this.#unfinished -= 1;
    if (this.#unfinished === 0) for (const resolve of this.#onSettled.splice(0)) resolve();
  }

  /** Applies one record (or one external id to delete); returns why it failed, if it did. */
  #apply(work: Work, item: unknown): Omit<BatchErrorDetail, 'index'> | undefined {
    const { batch, schema, options } = work;
    const table = this.#table(batch.tenantId, schema);
    if (batch.type === 'PARTNER_RESOURCE_BATCH_DELETE') {
      const externalId = String(item);
      return table.delete(externalId) ? undefined : { externalId, message: 'Resource not found' };
    }
    const record = item as Record<string, unknown>;
    const rawId = record[schema.externalIdField];
    if (typeof rawId !== 'string' && typeof rawId !== 'number') {
      return { externalId: null, message: `External id field '${schema.externalIdField}' is missing` };
    }
    const externalId = String(rawId);
    const fail = (message: string) => ({ externalId, message });
    const unknown = schema.properties ? Object.keys(record).filter((f) => !schema.properties!.has(f)) : [];
    if (unknown.length > 0 && !options.ignoreUnknownFields) {
      return fail(`Unknown field(s) ${unknown.join(', ')}; send ignoreUnknownFields=true to drop them`);
    }
    const incoming = Object.fromEntries(Object.entries(record).filter(([f]) => !unknown.includes(f)));
    const existing = table.get(externalId);
    if (batch.type === 'PARTNER_RESOURCE_BATCH_PATCH' && !existing) return fail('Resource not found');
    if (batch.type === 'PARTNER_RESOURCE_BATCH_UPSERT' && existing && options.onConflict === 'reject') {
      return fail('Resource already exists (onconflict=reject)');
    }
    const merged = mergeResource(existing, incoming);
    if (schema.validate && !schema.validate(merged)) {
      const problems = (schema.validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'invalid'}`);
      return fail(`Validation failed: ${problems.join('; ')}`);
    }
    table.set(externalId, merged);
    return undefined;
  }

  #table(tenant: string, schema: ResolvedSchema): Map<string, Record<string, unknown>> {
    const key = `${tenant}\u0000${schema.name.toLowerCase()}`;
    let table = this.#resources.get(key);
    if (!table) this.#resources.set(key, (table = new Map()));
    return table;
  }
}
