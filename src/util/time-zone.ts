/**
 * Time-zone arithmetic on the runtime's tz database (Intl): UTC offsets, their transitions, and
 * the local hours those transitions make skip or repeat.
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The UTC offset of `zone` at `at`, in minutes. */
export function offsetMinutes(zone: string, at: Date): number {
  let fmt = formatters.get(zone);
  if (fmt === undefined) {
    fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    });
    formatters.set(zone, fmt);
  }
  const parts = fmt.formatToParts(at);
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  const local = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'));
  return Math.round((local - Math.floor(at.getTime() / 60_000) * 60_000) / 60_000);
}

/** One change of a zone's UTC offset. */
export interface OffsetTransition {
  /** The instant of the change. */
  readonly at: Date;
  /** Minutes east of UTC before the change. */
  readonly fromOffset: number;
  /** Minutes east of UTC after the change. */
  readonly toOffset: number;
}

/**
 * Offset changes of `zone` between `from` and `from + days`, found to the minute. The offset is
 * sampled every `scanMs` (default an hour): two changes closer together than that are missed.
 */
export function offsetTransitions(zone: string, from: Date, days = 366, scanMs = 3_600_000): OffsetTransition[] {
  const out: OffsetTransition[] = [];
  let prev = offsetMinutes(zone, from);
  for (let t = from.getTime() + scanMs; t <= from.getTime() + days * 86_400_000; t += scanMs) {
    const cur = offsetMinutes(zone, new Date(t));
    if (cur === prev) continue;
    // Narrow down to the minute within the step.
    let lo = t - scanMs;
    let hi = t;
    while (hi - lo > 60_000) {
      const mid = lo + Math.floor((hi - lo) / 120_000) * 60_000;
      if (offsetMinutes(zone, new Date(mid)) === prev) lo = mid;
      else hi = mid;
    }
    out.push({ at: new Date(hi), fromOffset: prev, toOffset: cur });
    prev = cur;
  }
  return out;
}

/**
 * The wall-clock window a transition skips (clocks forward: `[T+from, T+to)`) or repeats (clocks
 * back: `[T+to, T+from)`), as a Date whose UTC fields read as local time, and its length.
 */
export function transitionWindow(tr: OffsetTransition): { readonly start: Date; readonly minutes: number } {
  return {
    start: new Date(tr.at.getTime() + Math.min(tr.fromOffset, tr.toOffset) * 60_000),
    minutes: Math.abs(tr.toOffset - tr.fromOffset),
  };
}

/**
 * The years whose transitions decide {@link transitionHours}. Fixed, not "the next year from
 * now", so that the answer (and every cron expanded with it) does not change with the date.
 */
export const TRANSITION_REFERENCE = { from: new Date('2026-01-01T00:00:00Z'), days: 2 * 365 } as const;

const hoursCache = new Map<string, ReadonlySet<number>>();

/**
 * The local hours (0-23) that any offset transition of `zone` skips or repeats, in part or in
 * whole, during {@link TRANSITION_REFERENCE}: e.g. {2} for Europe/Berlin, {1, 2} for
 * America/New_York, none for UTC or Asia/Tokyo. Depends on the zone and the runtime's tz
 * database only.
 */
export function transitionHours(zone: string): ReadonlySet<number> {
  let hours = hoursCache.get(zone);
  if (hours === undefined) {
    const found = new Set<number>();
    // Sampled daily: no zone changes its offset twice within a day.
    for (const tr of offsetTransitions(zone, TRANSITION_REFERENCE.from, TRANSITION_REFERENCE.days, 86_400_000)) {
      const w = transitionWindow(tr);
      for (let m = 0; m < w.minutes; m += 1) found.add(new Date(w.start.getTime() + m * 60_000).getUTCHours());
    }
    hours = found;
    hoursCache.set(zone, hours);
  }
  return hours;
}

/** Whether the runtime knows `tz` as an IANA time zone. */
export function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
