import type { BreakerConfig } from '../breaker/state';

/**
 * What crosses the workflow boundary: the compiled input of one run and its outcome.
 * Types and constants only, so that workflow code can import this file safely.
 */

/** Memo key under which a finished run keeps its {@link RunSummary}. */
export const OUTCOME_MEMO_KEY = 'sundialOutcome';

/** An HTTP request, compiled: durations in ms, body serialized. */
export interface HttpRequestPlan {
  readonly url: string;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly timeoutMs: number;
  /** Statuses that count as success; undefined means any 2xx. */
  readonly expectedStatus?: readonly number[];
}

export type TaskPlan =
  | { readonly type: 'http'; readonly request: HttpRequestPlan }
  | { readonly type: 'code'; readonly name: string; readonly mode: 'activity'; readonly args?: unknown }
  | { readonly type: 'code'; readonly name: string; readonly mode: 'workflow'; readonly workflowType: string; readonly args?: unknown };

export interface RetryPlan {
  readonly initialIntervalMs: number;
  readonly backoffCoefficient: number;
  readonly maximumIntervalMs?: number;
  /** 0 means unlimited, as in Temporal. */
  readonly maximumAttempts: number;
  readonly nonRetryableErrorTypes: readonly string[];
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
  readonly retry: RetryPlan;
  readonly timeouts: TimeoutsPlan;
  readonly breaker?: { readonly key: string; readonly config: BreakerConfig };
  readonly fallback?: { readonly type: 'cache'; readonly maxStalenessMs?: number } | { readonly type: 'function' };
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
}

/** A run's outcome: a success carries a result, a failure an error, never both. */
export type RunOutcome =
  | (OutcomeBase & { readonly status: 'succeeded'; readonly result: unknown })
  | (OutcomeBase & { readonly status: 'failed'; readonly error: RunError })
  | (OutcomeBase & { readonly status: 'degraded'; readonly result: unknown; readonly fallback: FallbackInfo });

/** What the run-task activity returns: its result and which attempt produced it. */
export interface TaskResult {
  readonly result: unknown;
  readonly attempt: number;
}

/** Details attached to a task's failure, so the workflow can tell which attempt failed. */
export interface TaskFailureDetails {
  readonly attempt: number;
}

/** The outcome minus the result, as kept in the run's memo. */
export interface RunSummary {
  readonly status: RunStatus;
  readonly attempts: number;
  readonly scheduledAt: string;
  readonly durationMs: number;
  readonly error?: RunError;
  readonly fallback?: FallbackInfo;
}
