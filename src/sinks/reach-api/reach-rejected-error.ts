import { PermanentError } from '../../errors.ts';

/** Reach refused a request (400/401/403/404/413/422...): retrying the same request cannot help. */
export class ReachRejectedError extends PermanentError {
  /** HTTP status Reach answered. */
  readonly status: number;
  /** Reach's own `message`, with any credential redacted. */
  readonly apiMessage: string;

  constructor(status: number, apiMessage: string, message: string) {
    super('RP_SINK_REJECTED', message);
    this.status = status;
    this.apiMessage = apiMessage;
  }
}
