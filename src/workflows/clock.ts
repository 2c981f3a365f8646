/**
 * Time inside workflows. The workflow sandbox replaces `Date` with Temporal's deterministic
 * clock (the current workflow task's time, identical on replay), so this is safe here and only
 * here; keeping it in one place makes that reasoning explicit.
 */
export function workflowNow(): number {
  return Date.now();
}
