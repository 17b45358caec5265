/**
 * Resolves a secret reference from a connector file at the moment it is needed, inside the
 * process that uses it. References: ${env:NAME}, ${file:PATH}, ${secret:NAME}.
 *
 * A connector reaches only what the operator grants connectors, so someone who may register
 * a connector cannot read another tenant's credentials or the puller's own keys:
 * - `${env:NAME}`: names listed in REACH_PULLER_CONNECTOR_ENV (exact names, or prefixes
 *   ending in `*`);
 * - `${file:PATH}`: files inside REACH_PULLER_SECRET_DIR (the path as written, then with
 *   symbolic links resolved; a path outside is refused alike whether or not it exists);
 * - `${secret:NAME}`: the connector's tenant's own namespace, `<tenant>/NAME`, and names
 *   listed in REACH_PULLER_SHARED_SECRETS; and then only where the secret's binding says it
 *   may go (secret-binding.ts): `tenant:` is written by the connector's author, the binding
 *   by the operator who stored the secret.
 * The puller's own settings (REACH_PULLER_*, REACH_API_*, DATABASE_URL, PGPASSWORD) are never
 * resolved into a connector, whatever a grant says.
 */
import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { SECRET_REFERENCE } from '../config/connector-schema.ts';
import { PermanentError, PullerError } from '../errors.ts';
import { bindingRefusal, bindingRefusalMessage, type SecretUse } from './secret-binding.ts';
import { registerSecret } from './secret-registry.ts';

export const CONNECTOR_ENV_GRANT = 'REACH_PULLER_CONNECTOR_ENV';
export const SECRET_DIR_GRANT = 'REACH_PULLER_SECRET_DIR';
export const SHARED_SECRETS_GRANT = 'REACH_PULLER_SHARED_SECRETS';

/** The puller's own settings: never a connector's to read. */
const PULLER_OWN = /^(REACH_PULLER_|REACH_API_|DATABASE_URL$|PGPASSWORD$)/;

/** A stored secret opened: its value, and the binding its seal authenticates (null: unbound). */
export interface StoredSecret {
  value: string;
  binding: string | null;
}

/** Looks up a `${secret:NAME}` in the encrypted secret store. */
export type SecretStoreLookup = (name: string) => Promise<StoredSecret | undefined>;

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  secretStore?: SecretStoreLookup;
  /** The tenant of the connector whose reference this is: its own secrets live under `<tenant>/`. */
  tenant?: string;
  /** Where the value goes (connector, field, destination): a stored secret is released only where its binding allows. */
  use?: SecretUse;
}

/** Returns the plaintext value of a reference, or an error naming the reference (never a value). */
export async function resolveSecret(reference: string, options: ResolveOptions = {}): Promise<string> {
  const match = SECRET_REFERENCE.exec(reference);
  if (!match) throw new PullerError('RP_CONFIG_SECRET_PLAINTEXT', 'A secret must be a reference like ${env:NAME}');
  const [, kind, name] = match as unknown as [string, 'env' | 'file' | 'secret', string];
  const env = options.env ?? process.env;
  let value: string | undefined;
  if (kind === 'env') {
    if (PULLER_OWN.test(name) || !granted(name, env[CONNECTOR_ENV_GRANT])) throw refused(reference, `${CONNECTOR_ENV_GRANT} does not grant ${name} to connectors`);
    value = env[name];
  } else if (kind === 'file') {
    value = await readGrantedFile(reference, name, env[SECRET_DIR_GRANT]);
  } else {
    const own = options.tenant !== undefined && name.startsWith(`${options.tenant}/`);
    if (!own && !granted(name, env[SHARED_SECRETS_GRANT])) {
      throw refused(reference, `a connector reads its tenant's secrets (${options.tenant ?? '<tenant>'}/NAME) and those ${SHARED_SECRETS_GRANT} lists`);
    }
    const stored = await options.secretStore?.(name);
    if (stored) {
      // Checked after the seal has authenticated the binding, before the value leaves here.
      const refusal = bindingRefusal(name, stored.binding, options.use);
      if (refusal) throw new PermanentError('RP_SECRET_FORBIDDEN', bindingRefusalMessage(options.use, refusal));
    }
    value = stored?.value;
  }
  if (value === undefined || value === '') {
    throw new PullerError('RP_SECRET_UNRESOLVED', `Secret reference ${reference} resolves to nothing`);
  }
  registerSecret(value);
  return value;
}

/** Whether a grant list (names, or prefixes ending in `*`) covers a name. */
function granted(name: string, grant: string | undefined): boolean {
  return (grant ?? '').split(',').map((g) => g.trim()).filter(Boolean)
    .some((g) => (g.endsWith('*') ? name.startsWith(g.slice(0, -1)) : name === g));
}

/**
 * A file's content, when the file lies inside the granted directory both as written and with
 * symbolic links resolved. The written path is checked first, touching nothing on disk, so a
 * path outside is refused the same way whether or not it exists: the answer says nothing
 * about the puller host's files. Only then is the real path resolved, so a link inside the
 * directory pointing outside is refused too.
 */
async function readGrantedFile(reference: string, file: string, dir: string | undefined): Promise<string | undefined> {
  if (!dir) throw refused(reference, `${SECRET_DIR_GRANT} is not set: no file is granted to connectors`);
  const outside = () => refused(reference, `it lies outside ${SECRET_DIR_GRANT}`);
  const lexicalRoot = path.resolve(dir);
  if (!path.resolve(lexicalRoot, file).startsWith(`${lexicalRoot}${path.sep}`)) throw outside();
  const root = await realpath(dir).catch(() => undefined);
  if (!root) throw refused(reference, `${SECRET_DIR_GRANT} (${dir}) does not exist`);
  const real = await realpath(path.resolve(lexicalRoot, file)).catch(() => undefined);
  if (real === undefined) return undefined;
  if (!real.startsWith(`${root}${path.sep}`)) throw outside();
  return readFile(real, 'utf8').then((v) => v.replace(/\r?\n$/, ''), () => undefined);
}

// Permanent: retrying cannot help until the operator grants, binds or the connector changes.
function refused(reference: string, why: string): PullerError {
  return new PermanentError('RP_SECRET_FORBIDDEN', `Secret reference ${reference} is not granted to connectors: ${why}`);
}
