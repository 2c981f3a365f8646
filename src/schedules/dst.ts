import { compileScheduleCrons, cronValues } from '../jobs/cron';
import type { JobSpec } from '../jobs/spec';
import { offsetTransitions, transitionWindow, type OffsetTransition } from '../util/time-zone';

const transitionCache = new Map<string, OffsetTransition[]>();

/** Transitions from the start of `now`'s UTC day: computed once per zone per day. */
function cachedTransitions(zone: string, now: Date): OffsetTransition[] {
  const day = new Date(Math.floor(now.getTime() / 86_400_000) * 86_400_000);
  const key = `${zone}@${day.toISOString().slice(0, 10)}`;
  let t = transitionCache.get(key);
  if (t === undefined) {
    if (transitionCache.size > 500) transitionCache.clear();
    t = offsetTransitions(zone, day);
    transitionCache.set(key, t);
  }
  return t.filter((x) => x.at.getTime() >= now.getTime());
}

const pad = (n: number) => String(n).padStart(2, '0');

/**
 * Warnings for cron and calendar times that fall into a daylight-saving gap (the local time
 * does not exist that day: Temporal skips it) or overlap (it exists twice) of the schedule's
 * time zone within the next year. A string with `H` is checked as expanded for the job, and the
 * warning shows both.
 */
export function dstWarnings(spec: JobSpec, now: Date = new Date()): string[] {
  const compiled = compileScheduleCrons(spec.id, spec.schedule);
  if (compiled.crons.length === 0) return [];
  const zone = compiled.timezone ?? 'UTC';
  const transitions = cachedTransitions(zone, now);
  const warnings: string[] = [];
  for (const cron of compiled.crons) {
    const f = cronValues(cron.temporal);
    if (f === undefined) continue;
    const name = cron.hashed
      ? `${JSON.stringify(cron.written)} (for job ${spec.id}: ${JSON.stringify(cron.temporal)})`
      : JSON.stringify(cron.written);
    for (const tr of transitions) {
      const shift = tr.toOffset - tr.fromOffset;
      const window = transitionWindow(tr);
      const hits: string[] = [];
      for (let m = 0; m < window.minutes; m++) {
        const local = new Date(window.start.getTime() + m * 60_000); // wall-clock time, read in UTC
        if (
          !f.month.has(local.getUTCMonth() + 1) ||
          !f.dayOfMonth.has(local.getUTCDate()) ||
          !f.dayOfWeek.has(local.getUTCDay())
        )
          continue;
        if (f.hour.has(local.getUTCHours()) && f.minute.has(local.getUTCMinutes()))
          hits.push(`${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}`);
      }
      if (hits.length === 0) continue;
      const day = window.start.toISOString().slice(0, 10);
      const times = hits.length > 3 ? `${hits.slice(0, 3).join(', ')}, ...` : hits.join(', ');
      warnings.push(
        shift > 0
          ? `${name}: ${times} does not exist in ${zone} on ${day} (clocks go forward); Temporal skips that run`
          : `${name}: ${times} happens twice in ${zone} on ${day} (clocks go back); Temporal may run it twice`,
      );
    }
  }
  return warnings;
}
