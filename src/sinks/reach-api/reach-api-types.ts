/**
 * Wire shapes of Reach's resources batch API (docs/reach-platform.md), shared by the client
 * and the local dev server so the two cannot drift apart.
 */

/**
 * Batch types. The docs name only PARTNER_RESOURCE_BATCH_DELETE; the upsert and patch
 * names follow the same pattern (assumption).
 */
export type BatchType =
  | 'PARTNER_RESOURCE_BATCH_UPSERT'
  | 'PARTNER_RESOURCE_BATCH_PATCH'
  | 'PARTNER_RESOURCE_BATCH_DELETE';

export type BatchStatus = 'PENDING' | 'PROCESSING' | 'COMPLETED' | 'FAILED';

export interface BatchProgress {
  totalRecords: number;
  processedRecords: number;
  successfulRecords: number;
  pendingRecords: number;
  failedRecords: number;
  /** successfulRecords / processedRecords as a fraction 0..1 (the docs give no unit: assumption). */
  successRate: number;
}

/** One record that failed inside an accepted batch. */
export interface BatchErrorDetail {
  /** Position of the record in the request body. */
  index: number;
  externalId: string | null;
  message: string;
}

export interface BatchErrors {
  summary: string;
  details: BatchErrorDetail[];
  message: string;
}

/** What `GET /api/batches/{batchId}` reports. */
export interface BatchInfo {
  id: string;
  type: BatchType;
  status: BatchStatus;
  tenantId: string;
  schemaName: string;
  schemaDefinitionId: string;
  createdAt: string;
  completedAt: string | null;
  progress: BatchProgress;
  /** Null while no record failed. */
  errors: BatchErrors | null;
}

/** `data` of a 202 answer to a batch write. */
export interface AcceptedBatch {
  batchId: string;
  message: string;
  recordCount: number;
  schemaDefinitionId: string;
}

/** `data` of `GET /api/batches`; `nextCursor` is null on the last page. */
export interface BatchList {
  batches: BatchInfo[];
  nextCursor: string | null;
}

/** Every answer's envelope; errors carry `success: false` and a message only. */
export interface ApiEnvelope<T> {
  success: boolean;
  message: string;
  data?: T;
}
