/**
 * Console sessions: after a login with the ops token, an HttpOnly, SameSite=Strict cookie
 * (Secure over https) carries the operator's name, the session's CSRF token and its expiry,
 * signed with an HMAC keyed by the ops token. Signed rather than kept in a map, so every
 * replica behind one address and a restarted `serve` accept it; rotating the ops token ends
 * every session at once. The token itself is never in the cookie or a URL.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'rp_console';
/** A working day: an operator logs in again the next morning. */
export const SESSION_SECONDS = 8 * 3600;

export interface Session {
  operator: string;
  /** The per-session token every form carries (csrf.ts). */
  csrf: string;
  /** Expiry, ms since the epoch. */
  expires: number;
}

/** An operator's name as the trail records it: printable, short. */
export const OPERATOR_NAME = /^[\p{L}\p{N} ._@'-]{1,64}$/u;

export class SessionKeys {
  readonly #tokenDigest: Buffer;
  readonly #key: Buffer;

  constructor(opsToken: string) {
    this.#tokenDigest = digest(opsToken);
    // A key of its own: a session cookie is no proof of the token, and cannot be turned into one.
    this.#key = createHmac('sha256', opsToken).update('reach-puller console session v1').digest();
  }

  /** Whether `token` is the ops token; compared as fixed-length digests, so timing says nothing. */
  tokenMatches(token: string): boolean {
    return timingSafeEqual(digest(token), this.#tokenDigest);
  }

  /** A new session for an operator. */
  open(operator: string, now = Date.now()): { session: Session; cookie: string } {
    const session: Session = { operator, csrf: randomBytes(24).toString('base64url'), expires: now + SESSION_SECONDS * 1000 };
    const payload = Buffer.from(JSON.stringify(session), 'utf8').toString('base64url');
    return { session, cookie: `${payload}.${this.#sign(payload)}` };
  }

  /** The session a cookie carries, when its signature holds and it has not expired. */
  read(cookie: string | undefined, now = Date.now()): Session | undefined {
    if (!cookie || cookie.length > 1024) return undefined;
    const [payload, signature, extra] = cookie.split('.');
    if (!payload || !signature || extra !== undefined) return undefined;
    // Compared as text: decoding first would take another spelling of the same bytes.
    const expected = Buffer.from(this.#sign(payload));
    const given = Buffer.from(signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    try {
      const session = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Session;
      if (typeof session.operator !== 'string' || typeof session.csrf !== 'string' || typeof session.expires !== 'number') return undefined;
      return session.expires > now ? session : undefined;
    } catch {
      return undefined;
    }
  }

  #sign(payload: string): string {
    return createHmac('sha256', this.#key).update(payload).digest('base64url');
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
