/**
 * Every secret value this process has resolved, so that any text leaving the process
 * (log lines, error messages, API answers) can be scrubbed of them: as written, and in the
 * forms text carries them in (JSON-escaped, URL-encoded). Longer secrets are scrubbed
 * first, so one that contains another never leaks its tail.
 */
const known = new Set<string>();
/** Every form of every secret, longest first; rebuilt when a secret is added. */
let forms: string[] = [];

/** Remembers a resolved secret value; values shorter than 4 characters are too common to scrub. */
export function registerSecret(value: string): void {
  if (value.length < 4 || known.has(value)) return;
  known.add(value);
  const all = new Set<string>();
  for (const secret of known) {
    all.add(secret);
    all.add(JSON.stringify(secret).slice(1, -1));
    all.add(encodeURIComponent(secret));
    all.add(encodeURIComponent(secret).replace(/%20/g, '+'));
  }
  forms = [...all].sort((a, b) => b.length - a.length);
}

/** Replaces every form of every known secret value in `text` with `[REDACTED]`. */
export function scrubSecrets(text: string): string {
  let out = text;
  for (const form of forms) {
    if (out.includes(form)) out = out.split(form).join('[REDACTED]');
  }
  return out;
}
