// Apart from the connector schema, so `status` reads zones without loading zod.
import type { StreamConfig } from './connector-schema.ts';

/** The zone a stream's wall-clock columns are in: its own, or its source's. */
export function streamTimeZone(config: { source: { timezone: string } }, stream: Pick<StreamConfig, 'timezone'>): string {
  return stream.timezone ?? config.source.timezone;
}
