/**
 * mysql2's `typeCast` for source pools: TIMESTAMP and DATETIME come back as canonical text
 * (with `dateStrings` the driver gives `2024-01-02 03:04:05` or `.987654`, depending on the
 * column's precision). Everything else keeps mysql2's parsing (JSON parsed, DECIMAL and
 * BIGINT as strings by the pool options).
 */
import type { TypeCast } from 'mysql2';
import { canonicalInstant, canonicalLocal } from '../canonical-values.ts';

const DIGITS = 6;

export const mysqlTypeCast: TypeCast = (field, next) => {
  if (field.type !== 'TIMESTAMP' && field.type !== 'DATETIME') return next();
  const text = field.string();
  if (text === null) return null;
  // The session's time_zone is +00:00, so TIMESTAMP text is UTC.
  return field.type === 'TIMESTAMP' ? canonicalInstant(text, DIGITS) : canonicalLocal(text, DIGITS);
};
