import type { BreakerConfig } from '../breaker/state';
import type { NotifyPlan } from '../notify/plan';
import type { SecretRef } from '../secrets/reference';

/**
 * What crosses the workflow boundary: the compiled input of one run and its outcome.
 * Types and constants only, so that workflow code can import this file safely.
 */

/**
 * The fields of every run start and end log line, in the issue's (and log pipelines') names.
 * Fields that do not apply (a start line's duration, a success's error) are null.
 */
export const RUN_LOG_FIELDS = [
  'task_name',
  'workflow_id',
  'run_id',
  'attempt',
  'scheduled_time',
  'start_time',
  'duration_ms',
  'status',
  'error_type',
  'error_msg',
] as const;

/** The messages of a run's start and end lines. */
export const RUN_LOG_MESSAGES: readonly string[] = ['run started', 'run finished'];

/** The workflow type of every run (`jobWorkflow` in src/workflows/job-workflow.ts). */
export const JOB_WORKFLOW_TYPE = 'jobWorkflow';

/** Memo key under which a finished run keeps its {@link RunSummary}. */
export const OUTCOME_MEMO_KEY = 'sundialOutcome';

/** An HTTP request, compiled: durations in ms, body serialized. */
export interface HttpRequestPlan {
  readonly url: string;
  readonly method: string;
  /** A reference is resolved by the worker when the attempt runs (src/secrets/resolve.ts). */
  readonly headers: Readonly<Record<string, string | SecretRef>>;
  readonly body?: string;
  readonly timeoutMs: number;
  /** Statuses that count as success; undefined means any 2xx. */
  readonly expectedStatus?: readonly number[];
  /** Redirects followed, each hop checked by the egress policy; undefined means none (a 3xx is the answer). */
  readonly maxRedirects?: number;
}

export type TaskPlan =
  | { readonly type: 'http'; readonly request: HttpRequestPlan }
  | { readonly type: 'code'; readonly name: string; readonly mode: 'activity'; readonly args?: unknown }
  | {
      readonly type: 'code';
      readonly name: string;
      readonly mode: 'workflow';
      readonly workflowType: string;
      readonly args?: unknown;
    };

export interface RetryPlan {
  readonly initialIntervalMs: number;
  readonly backoffCoefficient: number;
  readonly maximumIntervalMs?: number;
  /** 0 means unlimited, as in Temporal. */
  readonly maximumAttempts: number;
  readonly nonRetryableErrorTypes: readonly string[];
  /**
   * Each retry delay is spread over ±this fraction of itself (0 to 1). Absent: the default,
   * DEFAULT_RETRY_JITTER in ./backoff (set only when the job declares it, so that the inputs and
   * hashes of jobs that do not are unchanged).
   */
  readonly jitter?: number;
}

export interface TimeoutsPlan {
  readonly startToCloseMs?: number;
  readonly scheduleToCloseMs?: number;
  readonly heartbeatMs?: number;
}

/** The single argument of `jobWorkflow`: everything a run needs, fixed when the tick fires. */
export interface JobRunInput {
  readonly jobId: string;
  readonly task: TaskPlan;
  /** Absent for regular activities: inputs (and hashes) of jobs that do not use it are unchanged. */
  readonly execution?: 'local';
  readonly retry: RetryPlan;
  readonly timeouts: TimeoutsPlan;
  readonly breaker?: { readonly key: string; readonly config: BreakerConfig };
  readonly fallback?: { readonly type: 'cache'; readonly maxStalenessMs?: number } | { readonly type: 'function' };
  /** Who is told about this run's events (the job's `notify`, or the defaults); absent: nobody. */
  readonly notify?: NotifyPlan;
  /** Set only on a run that continued as new: where its earlier executions left off. */
  readonly continued?: ContinuedRun;
}

/**
 * What a run's managed retries carry across continue-as-new, so that its outcome (attempts,
 * duration, lag) and its overall `scheduleToClose` budget count from the run's real start.
 */
export interface ContinuedRun {
  /** Attempts made so far, all of them failed retryably. */
  readonly attempts: number;
  readonly firstStartedAt?: string;
  /** The run's start (its first execution's), ISO 8601. */
  readonly startedAt: string;
  readonly scheduledAt: string;
}

/** The final state of a run as the workflow reports it. */
export type RunStatus = 'succeeded' | 'failed' | 'degraded';

/** Where a degraded run's result came from. */
export type FallbackInfo =
  | { readonly servedFrom: 'cache'; readonly cachedAt: string; readonly ageMs: number }
  | { readonly servedFrom: 'function' };

export interface RunError {
  /** The error's type name, as matched by `nonRetryableErrorTypes`. */
  readonly type: string;
  readonly message: string;
}

interface OutcomeBase {
  readonly jobId: string;
  readonly workflowId: string;
  readonly runId: string;
  readonly attempts: number;
  /** When the tick was due (ISO 8601); the start time for runs started by hand. */
  readonly scheduledAt: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationMs: number;
  /** From the tick's scheduled time to the first attempt's start (to the run's start when it made none). */
  readonly lagMs: number;
  readonly attemptOutcomes: AttemptOutcomes;
}

/** A run's outcome: a success carries a result, a failure an error, never both. */
export type RunOutcome =
  | (OutcomeBase & { readonly status: 'succeeded'; readonly result: unknown })
  | (OutcomeBase & { readonly status: 'failed'; readonly error: RunError })
  | (OutcomeBase & { readonly status: 'degraded'; readonly result: unknown; readonly fallback: FallbackInfo });

/**
 * Which attempt of a task this is, and when the run's first attempt started (ISO 8601; unknown
 * when an earlier attempt died before its first heartbeat reached the server).
 */
export interface AttemptStamp {
  readonly attempt: number;
  readonly firstStartedAt?: string;
  /** On a failed attempt: the delay before the next one that the task asked for (Retry-After), in ms. */
  readonly requestedDelayMs?: number;
}

/** What the run-task activity returns: its result and which attempt produced it. */
export interface TaskResult extends AttemptStamp {
  readonly result: unknown;
}

/** Details attached to a task's failure (and its heartbeats), so the workflow can tell which attempt failed. */
export type TaskFailureDetails = AttemptStamp;

/** How a run's attempts ended, for `sundial_job_attempts_total`. */
export interface AttemptOutcomes {
  readonly success: number;
  readonly retryable_error: number;
  readonly non_retryable_error: number;
}

/** The outcome minus the result, as kept in the run's memo. */
export interface RunSummary {
  readonly status: RunStatus;
  readonly attempts: number;
  readonly scheduledAt: string;
  readonly durationMs: number;
  /** Absent on runs that finished before Sundial recorded it. */
  readonly lagMs?: number;
  readonly attemptOutcomes?: AttemptOutcomes;
  readonly error?: RunError;
  readonly fallback?: FallbackInfo;
}

/** Memo key under which a run started by hand over the API keeps its {@link TriggerInfo}. */
export const TRIGGER_MEMO_KEY = 'sundialTrigger';

/** Who triggered a run, why and with what: in the run's memo, shown by the API and the Web UI. */
export interface TriggerInfo {
  /** The API key's id (never the key); null for an API without keys (loopback only). */
  readonly by: { readonly keyId: string | null; readonly role: 'read' | 'write' | null };
  /** When the API started the run, ISO 8601. */
  readonly at: string;
  readonly reason?: string;
  /**
   * The `args` of the trigger as sent (a JSON merge patch over the job's args, or over an HTTP
   * job's request fields), with header values redacted; secret references stay references.
   */
  readonly overrides?: unknown;
  readonly idempotencyKey?: string;
  /** SHA-256 of the trigger's body (args and reason): a key sent again with another body is refused. */
  readonly requestHash: string;
}
