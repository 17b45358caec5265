/**
 * Cross-site request forgery: every state-changing console request must come from a page of
 * this origin (Sec-Fetch-Site, else Origin, else Referer, must say so; one with none of them
 * is refused, as no browser of this decade sends a form that way) and carry the session's CSRF
 * token in its `_csrf` field. The SameSite=Strict cookie is the third wall.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Session } from './session.ts';

/** Why a request is refused as cross-site, or undefined when it is same-origin. */
export function crossSiteRefusal(req: FastifyRequest): string | undefined {
  const fetchSite = req.headers['sec-fetch-site'];
  if (fetchSite !== undefined) return fetchSite === 'same-origin' ? undefined : `Sec-Fetch-Site is ${String(fetchSite)}`;
  const self = `${req.protocol}://${req.host}`;
  const origin = req.headers.origin;
  if (origin !== undefined) return origin === self ? undefined : 'the Origin is another site';
  const referer = req.headers.referer;
  if (referer !== undefined) return referer.startsWith(`${self}/`) ? undefined : 'the Referer is another site';
  return 'the request names no origin';
}

/** Whether a form's token is the session's. */
export function csrfTokenMatches(session: Session, given: unknown): boolean {
  if (typeof given !== 'string') return false;
  return timingSafeEqual(digest(given), digest(session.csrf));
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
