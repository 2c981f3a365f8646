import ms from 'ms';

/**
 * A duration as users write it: a string such as `"500ms"`, `"30s"`, `"5m"`, `"2h"`, `"1d"`,
 * or a number of milliseconds. Inside Sundial every duration is a number of milliseconds.
 */
export type Duration = string | number;

const UNIT =
  /^\s*\d+(\.\d+)?\s*(ms|msecs?|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?)\s*$/i;

/**
 * Parses a {@link Duration} into milliseconds.
 * @throws Error with a message suitable to follow a field name, when the value is not a
 *   non-negative duration with a unit.
 */
export function parseDuration(value: Duration): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0)
      throw new Error(`must be a non-negative number of milliseconds, got ${value}`);
    return value;
  }
  // `ms` also accepts a bare number and negative values; a duration without a unit is a
  // classic source of "I meant seconds" bugs, so Sundial insists on one.
  if (!UNIT.test(value))
    throw new Error(`must be a duration such as "500ms", "30s", "5m", "2h" or "1d", got ${JSON.stringify(value)}`);
  const parsed = ms(value as ms.StringValue);
  if (typeof parsed !== 'number' || !Number.isFinite(parsed))
    throw new Error(`is not a valid duration: ${JSON.stringify(value)}`);
  return parsed;
}

/**
 * Node's timer limit, in ms (2^31-1, about 24.8 days): a longer `setTimeout` or
 * `AbortSignal.timeout` fires at once instead. The bound of every duration a run waits on.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The bound of a schedule's own durations (interval, offset, jitter, catch-up window), in ms: 100 years. */
export const MAX_SCHEDULE_DURATION_MS = 100 * 365.25 * 86_400_000;

/** The range a duration must fall in, in ms. */
export interface DurationRange {
  /** Smallest accepted value, in ms. 0 allows zero. */
  readonly minMs: number;
  /** Largest accepted value, in ms. */
  readonly maxMs: number;
}

/** A duration as users would write it, for messages: `24.8d (2147483647 ms)`. */
function shown(msValue: number): string {
  const units: Array<[string, number]> = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ];
  const [unit, size] = units.find(([, size]) => msValue >= size) ?? ['ms', 1];
  // Rounded down: the value shown is itself in range.
  const short = `${Math.floor((msValue / size) * 10) / 10}${unit}`;
  return unit === 'ms' || msValue % size === 0 ? short : `${short} (${msValue} ms)`;
}

/**
 * Why a duration of `msValue` is out of `range`, as a message to follow a field name; undefined
 * when it is in range. Zero is named as such: Temporal reads a zero timeout or interval as
 * "unset", and the SDK refuses a zero retry interval in the middle of a run.
 */
export function durationRangeProblem(msValue: number, range: DurationRange): string | undefined {
  if (msValue < range.minMs)
    return msValue === 0
      ? `must not be zero (at least ${shown(range.minMs)})`
      : `must be at least ${shown(range.minMs)}`;
  if (msValue > range.maxMs) return `must be at most ${shown(range.maxMs)}`;
  return undefined;
}

/** A duration for messages, rounded to its largest unit: `1m`, `2h`, `1d`, `500ms`. */
export function formatDuration(msValue: number): string {
  return ms(Math.round(msValue));
}
