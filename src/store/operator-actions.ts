/**
 * The trail of what operators did through the ops console: who (the name given at login),
 * when, what, where and how it ended. Written after each action, read by the stream page.
 */
import type { Kysely } from 'kysely';
import { scrubSecrets } from '../secrets/secret-registry.ts';
import type { StoreSchema } from './schema.ts';

export interface OperatorAction {
  operator: string;
  connector: string;
  stream?: string;
  /** What was asked: `pull`, `backfill.start`, `reset`... */
  action: string;
  /** Its parameters (a range, a new position); never a secret. */
  detail?: Record<string, unknown>;
  /** `ok`, or the error code it failed with. */
  outcome: string;
}

export interface RecordedAction extends Required<Omit<OperatorAction, 'stream'>> {
  id: string;
  at: string;
  stream: string | null;
}

/** Records one action. */
export async function recordAction(db: Kysely<StoreSchema>, action: OperatorAction): Promise<void> {
  await db.insertInto('operator_actions').values({
    operator: action.operator, connector_id: action.connector, stream: action.stream ?? null, action: action.action,
    detail: scrubSecrets(JSON.stringify(action.detail ?? {})), outcome: action.outcome,
  }).execute();
}

/** The newest actions on a stream (and on its whole connector: registration, every-stream pulls), newest first. */
export async function listActions(db: Kysely<StoreSchema>, connector: string, stream: string, limit = 50): Promise<RecordedAction[]> {
  const rows = await db.selectFrom('operator_actions').selectAll().where('connector_id', '=', connector)
    .where((eb) => eb.or([eb('stream', '=', stream), eb('stream', 'is', null)]))
    .orderBy('id', 'desc').limit(limit).execute();
  return rows.map((r) => ({
    id: r.id, at: new Date(r.at).toISOString(), operator: r.operator, connector: r.connector_id, stream: r.stream,
    action: r.action, detail: r.detail, outcome: r.outcome,
  }));
}
