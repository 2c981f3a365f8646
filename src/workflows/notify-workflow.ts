import {
  ActivityFailure,
  ApplicationFailure,
  TimeoutFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  proxyActivities,
  setHandler,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import type { createActivities } from '../activities';
import { notifyStateQuery, recordRunUpdate } from '../notify/contract';
import {
  INITIAL_NOTIFY_STATE,
  NOTIFY_MEMO_KEY,
  nextNotifyState,
  type DeliveryRecord,
  type NotifyMemo,
  type NotifyState,
  type NotifyWorkflowInput,
  type RecordRunResponse,
} from '../notify/plan';
import { workflowNow } from './clock';

type Activities = ReturnType<typeof createActivities>;

/**
 * How long a delivery is tried before it is given up: a receiver down for a day is told
 * nothing of that day. Retries back off from 1 s to 5 minutes.
 */
export const DELIVERY_GIVE_UP_MS = 24 * 3_600_000;

const delivery = proxyActivities<Activities>({
  // One attempt: the request's own 10 s timeout plus margin. The heartbeat notices a dead
  // worker within 5 s, so a delivery cut off by a crash is made again promptly.
  startToCloseTimeout: '30s',
  heartbeatTimeout: '5s',
  scheduleToCloseTimeout: DELIVERY_GIVE_UP_MS,
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '5m' },
});

/** The failure of a delivery given up, as its record shows it. */
function failureOf(err: unknown): { type: string; message: string } {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) return { type: cause.type ?? 'Error', message: cause.message };
  if (cause instanceof TimeoutFailure) return { type: 'Timeout', message: cause.message };
  return {
    type: (cause as Error | undefined)?.name ?? 'Error',
    message: (cause as Error | undefined)?.message ?? String(err),
  };
}

/**
 * Delivers one event of one run to every target whose rule names it, each with its own retries.
 * Started by the run's workflow as an abandoned child whose id is unique per run and event, so
 * it is started once, outlives the run, and never holds it open. It never fails: a delivery
 * given up is recorded as failed in its memo and result.
 */
export async function notifyWorkflow(input: NotifyWorkflowInput): Promise<DeliveryRecord[]> {
  const first = input.deliveries[0];
  if (first === undefined) return [];
  const records: DeliveryRecord[] = input.deliveries.map((d) => ({
    key: d.facts.key,
    event: d.facts.event,
    target: d.to.type,
    state: 'pending',
  }));
  const memo = (): NotifyMemo => ({
    jobId: first.facts.jobId,
    workflowId: first.facts.workflowId,
    runId: first.facts.runId,
    event: first.facts.event,
    deliveries: records,
  });
  await Promise.all(
    input.deliveries.map(async (d, i) => {
      try {
        const res = await delivery.deliverNotification(d);
        records[i] = {
          ...records[i]!,
          state: 'delivered',
          attempts: res.attempt,
          httpStatus: res.status,
          deliveredAt: new Date(workflowNow()).toISOString(),
        };
      } catch (err) {
        const error = failureOf(err);
        log.warn('notification given up', {
          task_name: d.facts.jobId,
          event: d.facts.event,
          target: d.to.type,
          error_type: error.type,
          error_msg: error.message,
        });
        records[i] = { ...records[i]!, state: 'failed', error };
      }
    }),
  );
  // One memo write at the end: a listing shows a running notification as pending (its start memo).
  upsertMemo({ [NOTIFY_MEMO_KEY]: memo() });
  return records;
}

export interface NotifyStateWorkflowInput {
  readonly jobId: string;
  /** Carried over continue-as-new. */
  readonly state?: NotifyState;
  /** The answers to the last runs recorded, by run id, so that a repeated record is answered alike. */
  readonly recent?: ReadonlyArray<readonly [string, RecordRunResponse]>;
}

/** Updates handled before the history is trimmed with continue-as-new. */
const RECORDS_BEFORE_CONTINUE = 500;
/** Answers remembered for repeated records (a retried activity across a continue-as-new). */
const RECENT_KEPT = 50;

/**
 * The notification state of one job (consecutive failures, the last status): a long-lived
 * entity workflow, one writer, so runs finishing together are counted exactly, and the state
 * survives any process because it is the workflow's state. Each run is recorded once.
 */
export async function notifyStateWorkflow(input: NotifyStateWorkflowInput): Promise<void> {
  let state: NotifyState = input.state ?? INITIAL_NOTIFY_STATE;
  const recent = new Map<string, RecordRunResponse>(input.recent ?? []);
  let handled = 0;
  setHandler(recordRunUpdate, (req) => {
    const seen = recent.get(req.runId);
    if (seen !== undefined) return seen;
    const answer = { before: state, after: nextNotifyState(state, req.status) };
    state = answer.after;
    recent.set(req.runId, answer);
    if (recent.size > RECENT_KEPT) recent.delete(recent.keys().next().value!);
    handled++;
    return answer;
  });
  setHandler(notifyStateQuery, () => state);
  await condition(() => handled >= RECORDS_BEFORE_CONTINUE || workflowInfo().continueAsNewSuggested);
  await condition(allHandlersFinished);
  await continueAsNew<typeof notifyStateWorkflow>({ jobId: input.jobId, state, recent: [...recent.entries()] });
}
