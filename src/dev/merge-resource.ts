/**
 * How Reach merges an upserted or patched record into the stored one (docs/reach-platform.md):
 * like a PATCH, fields left out are kept and a field sent as `null` is deleted.
 * The merge is shallow: a nested object or array sent replaces the stored value whole
 * (the docs describe top-level fields only; assumption). Shared by the dev server and the
 * built-in store sink so both follow the same semantics.
 */
export function mergeResource(
  existing: Readonly<Record<string, unknown>> | undefined,
  incoming: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...existing };
  for (const [field, value] of Object.entries(incoming)) {
    if (value === null) delete merged[field];
    else merged[field] = value;
  }
  return merged;
}
