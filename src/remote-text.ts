/**
 * Text from the other side of a connection (a partner database's error, a Reach answer)
 * made fit to store and show. Such text is evidence, not content: whoever answers can send
 * megabytes of it, echo a token back, or write escape sequences meant for a terminal. So it
 * loses every secret first (a cut must not leave half of one), then its control characters,
 * then all but its start, where the code and the gist are.
 */
import { scrubSecrets } from './secrets/secret-registry.ts';

/** Characters of one remote message kept by default. */
export const REMOTE_TEXT_LIMIT = 200;

// C0 and C1 controls, DEL, line and paragraph separators, bidirectional overrides and isolates.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]+/g;

export interface RemoteTextOptions {
  /** Values removed besides every secret this process resolved (a token, a password), whatever their length. */
  secrets?: readonly (string | undefined)[];
  /** Characters kept (default REMOTE_TEXT_LIMIT); what is cut is counted, not kept. */
  limit?: number;
}

/** `text` without secrets or control characters, cut to `limit` characters. */
export function remoteText(text: string, options: RemoteTextOptions = {}): string {
  let out = text;
  for (const secret of options.secrets ?? []) {
    if (secret && out.includes(secret)) out = out.split(secret).join('[redacted]');
  }
  out = scrubSecrets(out).replace(CONTROL, ' ').trim();
  const limit = options.limit ?? REMOTE_TEXT_LIMIT;
  if (out.length <= limit) return out;
  // Never end on half of a surrogate pair.
  const end = /[\ud800-\udbff]/.test(out.charAt(limit - 1)) ? limit - 1 : limit;
  return `${out.slice(0, end)}... (${out.length} characters)`;
}
