/**
 * Every secret value this process has resolved, so that any text leaving the process
 * (log lines, error messages, API answers) can be scrubbed of them.
 */
const known = new Set<string>();

/** Remembers a resolved secret value; values shorter than 4 characters are too common to scrub. */
export function registerSecret(value: string): void {
  if (value.length >= 4) known.add(value);
}

/** Replaces every known secret value in `text` with `[REDACTED]`. */
export function scrubSecrets(text: string): string {
  let out = text;
  for (const secret of known) {
    if (out.includes(secret)) out = out.split(secret).join('[REDACTED]');
  }
  return out;
}
