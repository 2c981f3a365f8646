import { parseDuration } from '../util/duration';
import type { JobRunInput, TaskPlan } from './run-types';
import type { JobSpec } from './spec';

/** Default per-attempt timeout when a job sets neither startToClose nor scheduleToClose. */
export const DEFAULT_START_TO_CLOSE_MS = 10 * 60_000;
/**
 * Default heartbeat timeout of the built-in HTTP task: it heartbeats every second while it
 * waits, so a dead worker is noticed within this long and the attempt moves elsewhere.
 */
export const DEFAULT_HTTP_HEARTBEAT_MS = 5_000;

const optMs = (d: string | number | undefined): number | undefined => (d === undefined ? undefined : parseDuration(d));

/** Compiles a validated spec into the input every run of the job receives. Pure. */
export function planRun(spec: JobSpec, codeMode: (name: string) => 'activity' | 'workflow'): JobRunInput {
  const t = spec.task;
  const task: TaskPlan =
    t.type === 'http'
      ? {
          type: 'http',
          request: {
            url: t.request.url,
            method: t.request.method,
            headers: t.request.headers,
            ...(t.request.body === undefined
              ? {}
              : { body: typeof t.request.body === 'string' ? t.request.body : JSON.stringify(t.request.body) }),
            timeoutMs: parseDuration(t.request.timeout),
            ...(t.request.expectedStatus === undefined ? {} : { expectedStatus: t.request.expectedStatus }),
          },
        }
      : { type: 'code', name: t.name, mode: codeMode(t.name), ...(t.args === undefined ? {} : { args: t.args }) };

  const startToCloseMs = optMs(spec.timeouts.startToClose);
  const scheduleToCloseMs = optMs(spec.timeouts.scheduleToClose);
  const heartbeatMs = optMs(spec.timeouts.heartbeat) ?? (task.type === 'http' ? DEFAULT_HTTP_HEARTBEAT_MS : undefined);
  const httpFloor = task.type === 'http' ? task.request.timeoutMs + 5_000 : 0;
  return {
    jobId: spec.id,
    task,
    retry: {
      initialIntervalMs: parseDuration(spec.retry.initialInterval),
      backoffCoefficient: spec.retry.backoffCoefficient,
      ...(spec.retry.maximumInterval === undefined ? {} : { maximumIntervalMs: parseDuration(spec.retry.maximumInterval) }),
      maximumAttempts: spec.retry.maximumAttempts,
      nonRetryableErrorTypes: spec.retry.nonRetryableErrorTypes,
    },
    timeouts: {
      ...(startToCloseMs === undefined && scheduleToCloseMs === undefined
        ? { startToCloseMs: Math.max(DEFAULT_START_TO_CLOSE_MS, httpFloor) }
        : {}),
      ...(startToCloseMs === undefined ? {} : { startToCloseMs }),
      ...(scheduleToCloseMs === undefined ? {} : { scheduleToCloseMs }),
      ...(heartbeatMs === undefined ? {} : { heartbeatMs }),
    },
  };
}
