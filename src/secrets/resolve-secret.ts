/**
 * Resolves a secret reference from a connector file at the moment it is needed, inside
 * the process that uses it. References: ${env:NAME}, ${file:PATH}, ${secret:NAME}.
 */
import { readFile } from 'node:fs/promises';
import { SECRET_REFERENCE } from '../config/connector-schema.ts';
import { PullerError } from '../errors.ts';
import { registerSecret } from './secret-registry.ts';

/** Looks up a `${secret:NAME}` in the encrypted secret store. */
export type SecretStoreLookup = (name: string) => Promise<string | undefined>;

/** Returns the plaintext value of a reference, or an error naming the reference (never a value). */
export async function resolveSecret(
  reference: string,
  options: { env?: NodeJS.ProcessEnv; secretStore?: SecretStoreLookup } = {},
): Promise<string> {
  const match = SECRET_REFERENCE.exec(reference);
  if (!match) throw new PullerError('RP_CONFIG_SECRET_PLAINTEXT', 'A secret must be a reference like ${env:NAME}');
  const [, kind, name] = match as unknown as [string, 'env' | 'file' | 'secret', string];
  let value: string | undefined;
  if (kind === 'env') value = (options.env ?? process.env)[name];
  else if (kind === 'file') value = await readFile(name, 'utf8').then((v) => v.replace(/\r?\n$/, ''), () => undefined);
  else value = await options.secretStore?.(name);
  if (value === undefined || value === '') {
    throw new PullerError('RP_SECRET_UNRESOLVED', `Secret reference ${reference} resolves to nothing`);
  }
  registerSecret(value);
  return value;
}
