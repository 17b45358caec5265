/**
 * Type parsers for the PostgreSQL pool only (passed as the pg client's `types`; the global
 * `pg.types` is shared with the state store and stays untouched). Times, dates and exact
 * numbers come back as text, never through a JS Date or a double.
 */
import pg from 'pg';
import { canonicalInstant, canonicalLocal } from '../canonical-values.ts';

const DIGITS = 6;

/** pg's own text[] parser: splits an array literal into strings, NULL elements as null. */
const TEXT_ARRAY_OID = 1009 as Parameters<typeof pg.types.getTypeParser>[0];
const textArray = pg.types.getTypeParser(TEXT_ARRAY_OID, 'text') as (value: string) => (string | null)[];

const instant = (value: string): string => canonicalInstant(value, DIGITS);
const local = (value: string): string => canonicalLocal(value, DIGITS);
const text = (value: string): string => value;
const arrayOf = (parse: (value: string) => string) => (value: string) => textArray(value).map((v) => (v === null ? null : parse(v)));

const PARSERS: Record<number, (value: string) => unknown> = {
  1184: instant, // timestamptz
  1114: local, // timestamp
  1082: text, // date: text, not a local-midnight Date
  20: text, // int8: explicit, whatever pg.defaults.parseInt8 says elsewhere
  1700: text, // numeric
  1185: arrayOf(instant),
  1115: arrayOf(local),
  1182: arrayOf(text),
  1016: arrayOf(text),
  1231: arrayOf(text),
};

/** The `types` option of every pg client in a source pool. */
export const postgresTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    return (format !== 'binary' && PARSERS[oid]) || pg.types.getTypeParser(oid, format ?? 'text');
  },
} as pg.CustomTypesConfig;
