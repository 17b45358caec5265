/**
 * Where a Reach token may go. Reach URLs come from operator configuration only:
 * REACH_API_URL, and REACH_PULLER_REACH_URLS, the origins connectors may name as their own
 * `reach.api_url` (each with its own `reach.token`: the global REACH_API_TOKEN goes to
 * REACH_API_URL and nowhere else). Every Reach URL is https, but for a loopback one when
 * REACH_PULLER_DEV_INSECURE_REACH=1 (a local Reach API for rehearsals and tests), and its
 * host passes the network policy like a source's.
 */
import { ConfigError, PullerError } from '../errors.ts';
import { assertHostAllowed, networkPolicy } from './network-policy.ts';

export const REACH_URLS_ENV = 'REACH_PULLER_REACH_URLS';
export const DEV_INSECURE_ENV = 'REACH_PULLER_DEV_INSECURE_REACH';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

/** A Reach URL and the token for it, both from where the operator allows them. */
export interface ReachEgress {
  apiUrl: string;
  token: string;
}

/** Whether connectors may name `url` as their own Reach URL: its origin is listed (`:*` matches any port of a host). */
function originAllowed(url: URL, env: NodeJS.ProcessEnv): boolean {
  for (const entry of (env[REACH_URLS_ENV] ?? '').split(',').map((e) => e.trim()).filter(Boolean)) {
    const anyPort = entry.endsWith(':*');
    let allowed: URL;
    try {
      allowed = new URL(anyPort ? entry.slice(0, -2) : entry);
    } catch {
      throw new ConfigError([{ path: REACH_URLS_ENV, message: `"${entry}" is not a URL (or an origin ending in :* for any port)` }]);
    }
    if (anyPort ? allowed.protocol === url.protocol && allowed.hostname === url.hostname : allowed.origin === url.origin) return true;
  }
  return false;
}

/** Refuses a URL that is not https (loopback http only with the dev flag), or whose host the network policy refuses. */
export async function assertReachUrl(apiUrl: string, env: NodeJS.ProcessEnv, what: string): Promise<URL> {
  let url: URL;
  try {
    url = new URL(apiUrl);
  } catch {
    throw new PullerError('RP_NETWORK_DENIED', `${what} "${apiUrl}" is not a URL`);
  }
  const devHttp = url.protocol === 'http:' && LOOPBACK.test(url.hostname) && env[DEV_INSECURE_ENV] === '1';
  if (url.protocol !== 'https:' && !devHttp) {
    throw new PullerError('RP_NETWORK_DENIED', `${what} ${url.origin} is not https (plain http is allowed only to loopback, with ${DEV_INSECURE_ENV}=1)`);
  }
  if (url.username || url.password) throw new PullerError('RP_NETWORK_DENIED', `${what} must not carry credentials in the URL`);
  await assertHostAllowed(url.hostname.replace(/^\[|\]$/g, ''), networkPolicy(env), `${what} host`);
  return url;
}

/**
 * Checks a connector's Reach target: its own URL must be an allowed origin and comes with its
 * own token; without one, the operator's REACH_API_URL and REACH_API_TOKEN. `resolveToken`
 * resolves the connector's token reference (scoped like every secret) for the URL it will be
 * sent to, which a stored token's binding must name.
 */
export async function reachEgress(
  reach: { api_url?: string; token?: string } | undefined,
  env: NodeJS.ProcessEnv,
  resolveToken: (reference: string, apiUrl: string) => Promise<string>,
): Promise<ReachEgress | undefined> {
  if (reach?.api_url) {
    const origin = new URL(reach.api_url).origin;
    if (!originAllowed(new URL(reach.api_url), env)) {
      throw new PullerError('RP_NETWORK_DENIED', `the connector's reach.api_url ${origin} is not among the origins ${REACH_URLS_ENV} allows`);
    }
    if (!reach.token) {
      throw new PullerError('RP_SECRET_UNRESOLVED', `a connector naming its own reach.api_url (${origin}) must name its own reach.token: REACH_API_TOKEN goes to REACH_API_URL only`);
    }
    await assertReachUrl(reach.api_url, env, 'Reach URL');
    return { apiUrl: reach.api_url, token: await resolveToken(reach.token, reach.api_url) };
  }
  const apiUrl = env.REACH_API_URL || undefined;
  if (!apiUrl) return undefined;
  await assertReachUrl(apiUrl, env, 'REACH_API_URL');
  const token = reach?.token ? await resolveToken(reach.token, apiUrl) : env.REACH_API_TOKEN;
  if (!token) throw new PullerError('RP_SECRET_UNRESOLVED', `a Reach API URL is set (${new URL(apiUrl).origin}) but REACH_API_TOKEN is not`);
  return { apiUrl, token };
}
