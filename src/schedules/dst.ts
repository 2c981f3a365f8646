import { expandCron } from '../jobs/cron';
import type { JobSpec } from '../jobs/spec';
import { calendarToCron } from './mapping';

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The UTC offset of `zone` at `at`, in minutes. */
function offsetMinutes(zone: string, at: Date): number {
  let fmt = formatters.get(zone);
  if (fmt === undefined) {
    fmt = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric' });
    formatters.set(zone, fmt);
  }
  const parts = fmt.formatToParts(at);
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  const local = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'));
  return Math.round((local - Math.floor(at.getTime() / 60_000) * 60_000) / 60_000);
}

export interface DstTransition {
  /** The instant of the change. */
  readonly at: Date;
  readonly fromOffset: number;
  readonly toOffset: number;
}

/** Offset changes of `zone` between `from` and `from + days`, found to the minute. */
export function dstTransitions(zone: string, from: Date, days = 366): DstTransition[] {
  const out: DstTransition[] = [];
  const hour = 3_600_000;
  let prev = offsetMinutes(zone, from);
  for (let t = from.getTime() + hour; t <= from.getTime() + days * 86_400_000; t += hour) {
    const cur = offsetMinutes(zone, new Date(t));
    if (cur === prev) continue;
    // Narrow down to the minute within the hour.
    let lo = t - hour;
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

const transitionCache = new Map<string, DstTransition[]>();

/** Transitions from the start of `now`'s UTC day: computed once per zone per day. */
function cachedTransitions(zone: string, now: Date): DstTransition[] {
  const day = new Date(Math.floor(now.getTime() / 86_400_000) * 86_400_000);
  const key = `${zone}@${day.toISOString().slice(0, 10)}`;
  let t = transitionCache.get(key);
  if (t === undefined) {
    if (transitionCache.size > 500) transitionCache.clear();
    t = dstTransitions(zone, day);
    transitionCache.set(key, t);
  }
  return t.filter((x) => x.at.getTime() >= now.getTime());
}

const pad = (n: number) => String(n).padStart(2, '0');

/**
 * Warnings for cron and calendar times that fall into a daylight-saving gap (the local time
 * does not exist that day: Temporal skips it) or overlap (it exists twice) of the schedule's
 * time zone within the next year.
 */
export function dstWarnings(spec: JobSpec, now: Date = new Date()): string[] {
  const s = spec.schedule;
  const tzFromCron = (Array.isArray(s.cron) ? s.cron : s.cron === undefined ? [] : [s.cron]).map((c) => /^\s*(?:CRON_)?TZ=(\S+)/.exec(c)?.[1]).find((z) => z !== undefined);
  const zone = s.timezone ?? tzFromCron ?? 'UTC';
  const crons = [...(Array.isArray(s.cron) ? s.cron : s.cron === undefined ? [] : [s.cron]), ...(s.calendars ?? []).map(calendarToCron)];
  if (crons.length === 0) return [];
  const transitions = cachedTransitions(zone, now);
  const warnings: string[] = [];
  for (const cron of crons) {
    const f = expandCron(cron);
    if (f === undefined) continue;
    for (const tr of transitions) {
      const shift = tr.toOffset - tr.fromOffset;
      // The wall-clock window skipped (clocks forward: [T+from, T+to)) or repeated (clocks
      // back: [T+to, T+from)), as a Date whose UTC fields read as local time.
      const windowStart = new Date(tr.at.getTime() + Math.min(tr.fromOffset, tr.toOffset) * 60_000);
      const minutes = Math.abs(shift);
      const hits: string[] = [];
      for (let m = 0; m < minutes; m++) {
        const local = new Date(windowStart.getTime() + m * 60_000); // wall-clock time, read in UTC
        if (!f.month.has(local.getUTCMonth() + 1) || !f.dayOfMonth.has(local.getUTCDate()) || !f.dayOfWeek.has(local.getUTCDay())) continue;
        if (f.hour.has(local.getUTCHours()) && f.minute.has(local.getUTCMinutes())) hits.push(`${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}`);
      }
      if (hits.length === 0) continue;
      const day = windowStart.toISOString().slice(0, 10);
      const times = hits.length > 3 ? `${hits.slice(0, 3).join(', ')}, ...` : hits.join(', ');
      warnings.push(
        shift > 0
          ? `${JSON.stringify(cron)}: ${times} does not exist in ${zone} on ${day} (clocks go forward); Temporal skips that run`
          : `${JSON.stringify(cron)}: ${times} happens twice in ${zone} on ${day} (clocks go back); Temporal may run it twice`,
      );
    }
  }
  return warnings;
}
