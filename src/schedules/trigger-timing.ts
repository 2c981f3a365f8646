/**
 * When to send a schedule trigger so that Temporal does not drop it.
 *
 * Temporal names a schedule's runs `<workflow id>-<nominal time, to the second>`, and a trigger's
 * nominal time is the moment the schedule handles it. A trigger handled in the second of a
 * scheduled action therefore gets that action's workflow id, and the start is dropped without an
 * error (temporalio/temporal#3614: one run per schedule per second). A person who triggers a job
 * right after its tick ran, the likeliest moment to look at it, would lose their run.
 */

/** How close before an action a trigger counts as in its second: the time a schedule takes to handle it. */
export const TRIGGER_LEAD_MS = 500;
/** How far past an action's second a trigger is sent, for clocks and handling that run late. */
export const TRIGGER_MARGIN_MS = 150;

/**
 * How long to wait before sending a trigger at `nowMs` so that it is handled after the second of
 * each given action (the latest one taken, the next one due), or 0 when none is that close.
 * @param actionTimes nominal times of the schedule's actions near now.
 * @returns milliseconds, at most one second plus {@link TRIGGER_LEAD_MS} and {@link TRIGGER_MARGIN_MS}.
 */
export function triggerDelayMs(nowMs: number, actionTimes: readonly Date[]): number {
  let wait = 0;
  for (const at of actionTimes) {
    const second = Math.floor(at.getTime() / 1000) * 1000;
    const clear = second + 1000 + TRIGGER_MARGIN_MS;
    if (nowMs >= second - TRIGGER_LEAD_MS && nowMs < clear) wait = Math.max(wait, clear - nowMs);
  }
  return wait;
}
