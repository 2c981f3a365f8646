import { compileNotify, type NotifyRules } from '../notify/schema';
import { parseDuration } from '../util/duration';
import type { JobRunInput, TaskPlan } from './run-types';
import {
  HTTP_ATTEMPT_MARGIN_MS,
  HTTP_MAX_REDIRECTS,
  isHttpTask,
  LOCAL_MAX_START_TO_CLOSE_MS,
  type JobSpec,
} from './spec';
import type { JobCode } from './define';

/** Default per-attempt timeout when a job sets neither startToClose nor scheduleToClose. */
export const DEFAULT_START_TO_CLOSE_MS = 10 * 60_000;
/**
 * Default heartbeat timeout of the built-in HTTP task: it heartbeats every second while it
 * waits, so a dead worker is noticed within this long and the attempt moves elsewhere.
 */
export const DEFAULT_HTTP_HEARTBEAT_MS = 5_000;

function codeTask(name: string, code: JobCode | undefined, args: unknown): TaskPlan {
  const withArgs = args === undefined ? {} : { args };
  // A job type this process has no code for runs as an activity: a worker that has it will.
  return code?.mode === 'workflow'
    ? { type: 'code', name, mode: 'workflow', workflowType: code.workflowType, ...withArgs }
    : { type: 'code', name, mode: 'activity', ...withArgs };
}

/** The longest an open breaker waits before probing, however often probes failed. */
export const MAX_OPEN_FOR_MS = 10 * 60_000;

const optMs = (d: string | number | undefined): number | undefined => (d === undefined ? undefined : parseDuration(d));

/**
 * Compiles a validated spec into the input every run of the job receives. Pure. A job without
 * `notify` gets `notifyDefaults` (SUNDIAL_NOTIFY_DEFAULTS); `notify: []` gets none.
 */
export function planRun(
  spec: JobSpec,
  codeFor: (name: string) => JobCode | undefined,
  notifyDefaults?: NotifyRules,
): JobRunInput {
  const notify = compileNotify(spec.notify ?? notifyDefaults);
  const t = spec.task;
  const task: TaskPlan = isHttpTask(t)
    ? {
        type: 'http',
        request: {
          url: t.url,
          method: t.method,
          headers: t.headers,
          ...(t.body === undefined ? {} : { body: typeof t.body === 'string' ? t.body : JSON.stringify(t.body) }),
          timeoutMs: parseDuration(t.timeout),
          ...(t.expectStatus === undefined ? {} : { expectedStatus: t.expectStatus }),
          ...(t.followRedirects === true ? { maxRedirects: HTTP_MAX_REDIRECTS } : {}),
        },
      }
    : codeTask(t.type, codeFor(t.type), t.args);

  const local = spec.execution === 'local';
  // A local attempt always has a bounded timeout of its own, even under a long scheduleToClose.
  const startToCloseMs = optMs(spec.timeouts.startToClose) ?? (local ? LOCAL_MAX_START_TO_CLOSE_MS : undefined);
  const scheduleToCloseMs = optMs(spec.timeouts.scheduleToClose);
  // A local activity cannot heartbeat: a dead worker is noticed by the workflow task timeout.
  const heartbeatMs =
    optMs(spec.timeouts.heartbeat) ?? (task.type === 'http' && !local ? DEFAULT_HTTP_HEARTBEAT_MS : undefined);
  const httpFloor = task.type === 'http' ? task.request.timeoutMs + HTTP_ATTEMPT_MARGIN_MS : 0;
  const b = spec.breaker;
  return {
    jobId: spec.id,
    task,
    ...(local ? { execution: 'local' as const } : {}),
    ...(b === undefined
      ? {}
      : {
          breaker: {
            key: b.key,
            config: {
              failureThreshold: b.failureThreshold,
              ...(b.failureRate === undefined
                ? {}
                : {
                    failureRate: {
                      threshold: b.failureRate.threshold,
                      minimumCalls: b.failureRate.minimumCalls,
                      windowMs: parseDuration(b.failureRate.window),
                    },
                  }),
              openForMs: parseDuration(b.openFor),
              maxOpenForMs: Math.max(parseDuration(b.openFor), MAX_OPEN_FOR_MS),
              halfOpenProbes: b.halfOpenProbes,
            },
          },
        }),
    ...(spec.fallback === undefined
      ? {}
      : spec.fallback.type === 'function'
        ? { fallback: { type: 'function' as const } }
        : {
            fallback: {
              type: 'cache' as const,
              ...(spec.fallback.maxStaleness === undefined
                ? {}
                : { maxStalenessMs: parseDuration(spec.fallback.maxStaleness) }),
            },
          }),
    // Absent without rules: inputs (and hashes) of jobs that notify nobody are unchanged.
    ...(notify === undefined ? {} : { notify }),
    retry: {
      initialIntervalMs: parseDuration(spec.retry.initialInterval),
      backoffCoefficient: spec.retry.backoffCoefficient,
      ...(spec.retry.maximumInterval === undefined
        ? {}
        : { maximumIntervalMs: parseDuration(spec.retry.maximumInterval) }),
      maximumAttempts: spec.retry.maximumAttempts,
      nonRetryableErrorTypes: spec.retry.nonRetryableErrorTypes,
      ...(spec.retry.jitter === undefined ? {} : { jitter: spec.retry.jitter }),
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
