/** The HTTP status of an error, the same for the ops API's JSON and the console's pages. */
import { ConfigError, PullerError } from '../errors.ts';

export function errorStatus(error: unknown): number {
  if (error instanceof ConfigError) return 400;
  if (error instanceof PullerError) {
    if (error.code === 'RP_NOT_FOUND') return 404;
    if (error.code === 'RP_STREAM_BUSY' || error.code === 'RP_BACKFILL_BUSY' || error.code === 'RP_WATERMARK_MOVED') return 409;
    return error.code === 'RP_CONFIG_INVALID' ? 400 : 500;
  }
  // fastify's own (a body too large, a route's schema): 4xx as it says; anything else is ours.
  const status = (error as { statusCode?: number } | undefined)?.statusCode;
  return status !== undefined && status >= 400 && status < 500 ? status : 500;
}
