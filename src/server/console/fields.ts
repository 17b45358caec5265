/**
 * Reading one field of a form or a query string. @fastify/formbody and the query parser give a
 * repeated field as an array: that is a bad request (400, saying which field), never a
 * TypeError answered 500.
 */
import { PullerError } from '../../errors.ts';

/** The field's text, or undefined when absent; refused when sent more than once (or not as text). */
export function field(source: unknown, name: string): string | undefined {
  const value = (source as Record<string, unknown> | undefined)?.[name];
  if (value === undefined || typeof value === 'string') return value;
  throw new PullerError('RP_CONFIG_INVALID', `the field "${name}" was sent ${Array.isArray(value) ? `${value.length} times` : 'in a form it cannot have'}; send it once`);
}
