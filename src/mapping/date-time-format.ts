/**
 * The `date-time` format, without garbage for the usual value. Ajv's full format splits
 * the text and runs two capturing regular expressions per value: a dozen strings per
 * timestamp field of every record (a tenth of what a backfill allocated). The instants the
 * puller writes itself (`YYYY-MM-DDTHH:MM:SS[.f]Z`, transforms.ts `iso8601`) are checked
 * here digit by digit (as the `iso8601` transform checks them); anything else, and any value
 * this check would refuse (a leap second, the 30th of February), goes to the full format,
 * which has the last word.
 */
/** `YYYY-MM-DDTHH:MM:SS[.fraction]Z`: a UTC instant as the puller writes it. */
const UTC_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/;

/**
 * Whether `text` is a UTC instant as the puller writes it, naming a real date and time. Read
 * by position, without a Date or a match array: this runs for every timestamp of every row.
 */
export function isUtcInstant(text: string): boolean {
  if (!UTC_INSTANT.test(text)) return false;
  const year = twoDigits(text, 0) * 100 + twoDigits(text, 2);
  const month = twoDigits(text, 5);
  const day = twoDigits(text, 8);
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  return month >= 1 && month <= 12 && day >= 1 && day <= days
    && twoDigits(text, 11) < 24 && twoDigits(text, 14) < 60 && twoDigits(text, 17) < 60;
}

/**
 * The longest instant answered here: a fraction of up to nine digits. Ajv reads the seconds
 * as a double, and `59.` with fifteen nines or more is 60 to it (refused outside 23:59);
 * longer fractions, which no database writes, go to the full format.
 */
const QUICK_MAX_LENGTH = 'YYYY-MM-DDTHH:MM:SS.123456789Z'.length;

/** `full` (Ajv's date-time check) answered without allocating for a valid UTC instant. */
export function quickDateTime(full: (text: string) => boolean): (text: string) => boolean {
  return (text) => (text.length <= QUICK_MAX_LENGTH && isUtcInstant(text)) || full(text);
}

/** The number of the two digits at `at`. */
const twoDigits = (text: string, at: number): number => (text.charCodeAt(at) - 48) * 10 + text.charCodeAt(at + 1) - 48;
