/**
 * Every secret value this process has resolved, so that any text leaving the process
 * (log lines, error messages, API answers) can be scrubbed of them: as written, and in the
 * forms text carries them in (JSON-escaped, URL-encoded). Every occurrence of every form is
 * scrubbed as one span with those it overlaps, so a secret that contains or overlaps another
 * never leaks a tail.
 */
const known = new Set<string>();
/** Every form of every secret; rebuilt when a secret is added. */
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
  forms = [...all];
}

/**
 * Replaces every form of every known secret value in `text` with `[REDACTED]`. Every
 * occurrence is found in the original text first and overlapping ones merge into one span:
 * replacing one secret at a time would leave the tail of another that overlapped it.
 */
export function scrubSecrets(text: string): string {
  const spans: [number, number][] = [];
  for (const form of forms) {
    for (let at = text.indexOf(form); at !== -1; at = text.indexOf(form, at + 1)) spans.push([at, at + form.length]);
  }
  if (spans.length === 0) return text;
  spans.sort((a, b) => a[0] - b[0]);
  let out = '';
  let copied = 0;
  for (let i = 0; i < spans.length; ) {
    const start = spans[i]![0];
    let end = spans[i]![1];
    for (i++; i < spans.length && spans[i]![0] <= end; i++) end = Math.max(end, spans[i]![1]);
    out += `${text.slice(copied, start)}[REDACTED]`;
    copied = end;
  }
  return out + text.slice(copied);
}
