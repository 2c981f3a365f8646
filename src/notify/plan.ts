import type { SecretRef } from '../secrets/reference';

/**
 * Notifications as a run carries them: the job's rules compiled (durations in ms), the events a
 * finished run fires, and the ids that make a delivery happen once. Types, constants and pure
 * functions only: workflow code imports this file.
 */

/** The events a rule can name. `consecutive_failures:N` and `late:DURATION` carry a parameter. */
export const NotifyEventKind = {
  failed: 'failed',
  degraded: 'degraded',
  recovered: 'recovered',
  consecutive_failures: 'consecutive_failures',
  late: 'late',
} as const;
export type NotifyEventKind = (typeof NotifyEventKind)[keyof typeof NotifyEventKind];

/** One event a rule listens to, compiled. `name` is the event as written, normalized (`late:10m`). */
export type NotifyEvent =
  | { readonly kind: 'failed' | 'degraded' | 'recovered'; readonly name: string }
  | { readonly kind: 'consecutive_failures'; readonly name: string; readonly count: number }
  | { readonly kind: 'late'; readonly name: string; readonly afterMs: number };

/**
 * Where a notification goes. Credentials are secret references, resolved by the worker when it
 * delivers: a webhook's signing secret, and a Slack webhook URL (the URL is the credential).
 */
export type NotifyTarget =
  | { readonly type: 'webhook'; readonly url: string; readonly secret?: SecretRef }
  | { readonly type: 'slack'; readonly webhookUrl: SecretRef };

export interface NotifyRulePlan {
  readonly on: readonly NotifyEvent[];
  readonly to: NotifyTarget;
}

/** A run's notification rules (the job's own, or the defaults). Absent on runs without any. */
export interface NotifyPlan {
  readonly rules: readonly NotifyRulePlan[];
}

/** A job's run history as the notification state keeps it, durably, one writer per job. */
export interface NotifyState {
  /** Failed runs since the last succeeded one. Degraded runs neither count nor reset. */
  readonly consecutiveFailures: number;
  /** Status of the last finished run recorded (undefined: none yet). */
  readonly lastStatus?: 'succeeded' | 'failed' | 'degraded';
}

export const INITIAL_NOTIFY_STATE: NotifyState = { consecutiveFailures: 0 };

/** The state after a run finished with `status`. Pure. */
export function nextNotifyState(state: NotifyState, status: 'succeeded' | 'failed' | 'degraded'): NotifyState {
  if (status === 'failed') return { consecutiveFailures: state.consecutiveFailures + 1, lastStatus: status };
  if (status === 'succeeded') return { consecutiveFailures: 0, lastStatus: status };
  return { consecutiveFailures: state.consecutiveFailures, lastStatus: status };
}

/**
 * The events a finished run fires, given the state before it and after it (from the job's
 * notification entity): `failed`/`degraded` on every such run; `recovered` on a success right
 * after a failed or degraded run; `consecutive_failures:N` on the run that makes the N-th
 * failure in a row (once per streak). `late` is not decided here (a timer in the run fires it).
 * Each event appears once, however many rules name it.
 */
export function finishedRunEvents(
  plan: NotifyPlan,
  status: 'succeeded' | 'failed' | 'degraded',
  before: NotifyState | undefined,
  after: NotifyState | undefined,
): NotifyEvent[] {
  const fired = new Map<string, NotifyEvent>();
  for (const rule of plan.rules) {
    for (const e of rule.on) {
      const fires =
        e.kind === 'failed' || e.kind === 'degraded'
          ? e.kind === status
          : e.kind === 'recovered'
            ? status === 'succeeded' && (before?.lastStatus === 'failed' || before?.lastStatus === 'degraded')
            : e.kind === 'consecutive_failures'
              ? status === 'failed' &&
                after !== undefined &&
                after.consecutiveFailures === e.count &&
                (before?.consecutiveFailures ?? 0) < e.count
              : false;
      if (fires) fired.set(e.name, e);
    }
  }
  return [...fired.values()];
}

/** Whether any rule needs the job's durable state (recovered, consecutive failures). */
export function needsState(plan: NotifyPlan): boolean {
  return plan.rules.some((r) => r.on.some((e) => e.kind === 'recovered' || e.kind === 'consecutive_failures'));
}

/** The late events of a plan, each once, shortest first. */
export function lateEvents(plan: NotifyPlan): Array<Extract<NotifyEvent, { kind: 'late' }>> {
  const byName = new Map<string, Extract<NotifyEvent, { kind: 'late' }>>();
  for (const r of plan.rules) for (const e of r.on) if (e.kind === 'late') byName.set(e.name, e);
  return [...byName.values()].sort((a, b) => a.afterMs - b.afterMs);
}

/** The notification entity of one job is the workflow with this id (a job id holds no `:`). */
export const notifyStateWorkflowId = (jobId: string): string => `sundial-notify-state:${jobId}`;
export const NOTIFY_STATE_WORKFLOW_TYPE = 'notifyStateWorkflow';
export const NOTIFY_WORKFLOW_TYPE = 'notifyWorkflow';

/** Prefix of every notification workflow of a job: `notify:<jobId>:` (a job id holds no `:`). */
export const notifyWorkflowPrefix = (jobId: string): string => `notify:${jobId}:`;

/**
 * The notification workflow of one run and event: its id is unique per (run, event), so
 * Temporal starts it at most once however often the run's workflow task is retried.
 */
export const notifyWorkflowId = (jobId: string, runId: string, event: string): string =>
  `${notifyWorkflowPrefix(jobId)}${runId}:${event}`;

/** Memo key of a notification workflow: what it delivers and how that went. */
export const NOTIFY_MEMO_KEY = 'sundialNotify';

/** What one delivery carries: everything the payload and the Slack message say. */
export interface NotificationFacts {
  /** The delivery's idempotency key: `<run id>:<event>:<rule index>`. The same on every retry. */
  readonly key: string;
  readonly event: string;
  readonly jobId: string;
  readonly workflowId: string;
  readonly runId: string;
  /** The run's status when the event fired: `running` for `late`. */
  readonly status: 'running' | 'succeeded' | 'failed' | 'degraded';
  readonly scheduledAt: string;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  readonly durationMs: number | null;
  readonly attempts: number | null;
  readonly error: { readonly type: string; readonly message: string } | null;
  /** Failed runs in a row, counting this one (when the job's state was read). */
  readonly consecutiveFailures: number | null;
  /** When the event happened (ISO 8601). */
  readonly occurredAt: string;
}

/** One delivery of a notification workflow. */
export interface DeliveryPlan {
  readonly facts: NotificationFacts;
  readonly to: NotifyTarget;
}

export interface NotifyWorkflowInput {
  readonly deliveries: readonly DeliveryPlan[];
}

/** How one delivery ended, as the notification workflow's memo and result show it. */
export interface DeliveryRecord {
  readonly key: string;
  readonly event: string;
  readonly target: 'webhook' | 'slack';
  readonly state: 'pending' | 'delivered' | 'failed';
  readonly attempts?: number;
  readonly httpStatus?: number;
  readonly error?: { readonly type: string; readonly message: string };
  readonly deliveredAt?: string;
}

/** The notification workflow's memo: the run it is about and each delivery. */
export interface NotifyMemo {
  readonly jobId: string;
  readonly workflowId: string;
  readonly runId: string;
  readonly event: string;
  readonly deliveries: readonly DeliveryRecord[];
}

/** What the job workflow asks the job's notification entity: record one finished run. */
export interface RecordRunRequest {
  readonly jobId: string;
  /** The run's Temporal run id: the entity records each run once. */
  readonly runId: string;
  readonly status: 'succeeded' | 'failed' | 'degraded';
}

export interface RecordRunResponse {
  readonly before: NotifyState;
  readonly after: NotifyState;
}
