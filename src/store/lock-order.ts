/**
 * One order for the rows a statement writes or claims, whoever writes them: a pull and a
 * backfill of one stream run side by side with pages of the same records in different
 * orders (cursor order, key order), and two transactions that lock the same keys in
 * opposite orders deadlock (PostgreSQL then aborts one of them).
 */
export function inLockOrder<T>(rows: readonly T[], key: (row: T) => string): T[] {
  return [...rows].sort((a, b) => {
    const x = key(a);
    const y = key(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}
