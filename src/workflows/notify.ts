import {
  CancellationScope,
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  isCancellation,
  log,
  proxyLocalActivities,
  sleep,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { createActivities } from '../activities';
import {
  finishedRunEvents,
  lateEvents,
  needsState,
  NOTIFY_MEMO_KEY,
  notifyWorkflowId,
  type DeliveryPlan,
  type NotificationFacts,
  type NotifyEvent,
  type NotifyMemo,
  type NotifyPlan,
  type RecordRunResponse,
} from '../notify/plan';
import type { RunOutcome } from '../jobs/run-types';
import { workflowNow } from './clock';
import { notifyWorkflow } from './notify-workflow';

/**
 * The run's side of notifications: reading the job's state when a rule needs it, and starting
 * one abandoned child workflow per event. Nothing here waits for a receiver, and nothing here
 * fails the run: a notification that cannot be started is logged and the run ends as it would.
 */

type Activities = ReturnType<typeof createActivities>;

/** Patch id: runs whose job has notification rules read the job's state and start notification workflows. */
export const NOTIFY_AFTER_RUN = 'sundial-notify-after-run';

// A local activity: one update to the job's entity, not a task round trip through the server.
const stateActivities = proxyLocalActivities<Activities>({
  startToCloseTimeout: '10s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '2s', maximumAttempts: 5 },
});

/** What every notification of a run says about the run, before the event adds its own. */
export interface RunFacts {
  readonly jobId: string;
  readonly workflowId: string;
  readonly runId: string;
  readonly scheduledAt: string;
  readonly startedAt: string;
}

type EventFacts = Omit<NotificationFacts, 'key' | 'event'>;

/**
 * Starts the notification workflow of one event of this run: every rule naming the event gets a
 * delivery. Its id is unique per (run, event), so Temporal starts it at most once; it is
 * abandoned, so it outlives the run and the run never waits for it.
 */
async function startNotification(plan: NotifyPlan, event: NotifyEvent, facts: EventFacts): Promise<void> {
  const deliveries: DeliveryPlan[] = plan.rules.flatMap((rule, i) =>
    rule.on.some((e) => e.name === event.name)
      ? [{ facts: { ...facts, key: `${facts.runId}:${event.name}:${i}`, event: event.name }, to: rule.to }]
      : [],
  );
  const memo: NotifyMemo = {
    jobId: facts.jobId,
    workflowId: facts.workflowId,
    runId: facts.runId,
    event: event.name,
    deliveries: deliveries.map((d) => ({ key: d.facts.key, event: event.name, target: d.to.type, state: 'pending' })),
  };
  try {
    await startChild(notifyWorkflow, {
      workflowId: notifyWorkflowId(facts.jobId, facts.runId, event.name),
      args: [{ deliveries }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      cancellationType: ChildWorkflowCancellationType.ABANDON,
      memo: { [NOTIFY_MEMO_KEY]: memo },
    });
  } catch (err) {
    if (isCancellation(err)) throw err;
    log.warn('a notification could not be started', {
      task_name: facts.jobId,
      event: event.name,
      error_msg: (err as Error).message,
    });
  }
}

/**
 * Watches for the run's `late:` events while it runs: each fires once the run is still not
 * finished that long after its scheduled time (at once for a run that started later than that).
 * Returns the scope to cancel when the run finishes.
 */
export function watchLate(plan: NotifyPlan, run: RunFacts): CancellationScope | undefined {
  const late = lateEvents(plan);
  if (late.length === 0) return undefined;
  const scope = new CancellationScope();
  const watching = scope.run(async () => {
    for (const event of late) {
      const wait = Date.parse(run.scheduledAt) + event.afterMs - workflowNow();
      if (wait > 0) await sleep(wait);
      const facts: EventFacts = {
        ...run,
        status: 'running',
        finishedAt: null,
        durationMs: null,
        attempts: null,
        error: null,
        consecutiveFailures: null,
        occurredAt: new Date(workflowNow()).toISOString(),
      };
      await CancellationScope.nonCancellable(() => startNotification(plan, event, facts));
    }
  });
  watching.catch((err: unknown) => {
    if (!isCancellation(err))
      log.warn('watching for late events failed', { task_name: run.jobId, error_msg: (err as Error).message });
  });
  return scope;
}

/**
 * After a run finished: records it in the job's state when a rule needs that (recovered,
 * consecutive failures), then starts a notification for each event it fired. A state that
 * cannot be read costs this run those two events, not its outcome.
 */
export async function notifyFinished(plan: NotifyPlan, outcome: RunOutcome): Promise<void> {
  let state: RecordRunResponse | undefined;
  if (needsState(plan)) {
    try {
      state = await stateActivities.notifyRecordRun({
        jobId: outcome.jobId,
        runId: outcome.runId,
        status: outcome.status,
      });
    } catch (err) {
      if (isCancellation(err)) throw err;
      log.warn(
        "the job's notification state could not be read: recovered and consecutive_failures are not decided for this run",
        { task_name: outcome.jobId, error_msg: (err as Error).message },
      );
    }
  }
  const events = finishedRunEvents(plan, outcome.status, state?.before, state?.after);
  if (events.length === 0) return;
  const facts: EventFacts = {
    jobId: outcome.jobId,
    workflowId: outcome.workflowId,
    runId: outcome.runId,
    scheduledAt: outcome.scheduledAt,
    startedAt: outcome.startedAt,
    status: outcome.status,
    finishedAt: outcome.finishedAt,
    durationMs: outcome.durationMs,
    attempts: outcome.attempts,
    error: outcome.status === 'failed' ? outcome.error : null,
    consecutiveFailures: state?.after.consecutiveFailures ?? null,
    occurredAt: outcome.finishedAt,
  };
  await Promise.all(events.map((e) => startNotification(plan, e, facts)));
}

/** The run's own facts, for its notifications. */
export function runFacts(jobId: string, scheduledAt: string, startedAt: string): RunFacts {
  const info = workflowInfo();
  return { jobId, workflowId: info.workflowId, runId: info.runId, scheduledAt, startedAt };
}
