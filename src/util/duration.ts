import ms from 'ms';

/**
 * A duration as users write it: a string such as `"500ms"`, `"30s"`, `"5m"`, `"2h"`, `"1d"`,
 * or a number of milliseconds. Inside Sundial every duration is a number of milliseconds.
 */
export type Duration = string | number;

const UNIT = /^\s*\d+(\.\d+)?\s*(ms|msecs?|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?)\s*$/i;

/**
 * Parses a {@link Duration} into milliseconds.
 * @throws Error with a message suitable to follow a field name, when the value is not a
 *   non-negative duration with a unit.
 */
export function parseDuration(value: Duration): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new Error(`must be a non-negative number of milliseconds, got ${value}`);
    return value;
  }
  // `ms` also accepts a bare number and negative values; a duration without a unit is a
  // classic source of "I meant seconds" bugs, so Sundial insists on one.
  if (!UNIT.test(value)) throw new Error(`must be a duration such as "500ms", "30s", "5m", "2h" or "1d", got ${JSON.stringify(value)}`);
  const parsed = ms(value as ms.StringValue);
  if (typeof parsed !== 'number' || !Number.isFinite(parsed)) throw new Error(`is not a valid duration: ${JSON.stringify(value)}`);
  return parsed;
}
