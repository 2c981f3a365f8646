import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { HttpRequestPlan, TaskResult } from '../jobs/run-types';
import type { Logger } from '../observability/logger';
import { resolveHeaders } from '../secrets/resolve';
import { stampAttempt } from './attempt';
import { toActivityFailure } from './errors';

export interface HttpTaskInput {
  readonly jobId: string;
  readonly request: HttpRequestPlan;
  readonly idempotencyKey: string;
  readonly scheduledAt: string;
  /** Set when the workflow runs the retries itself (breaker jobs); else Temporal's attempt. */
  readonly attempt?: number;
}

export interface HttpTaskResult {
  readonly status: number;
  readonly body: unknown;
}

const MAX_BODY_CHARS = 64 * 1024;
const HEARTBEAT_EVERY_MS = 1_000;

/** The error type names of the HTTP task, for `nonRetryableErrorTypes` and dashboards. */
export const HttpErrorType = {
  /** 5xx: retried. */
  ServerError: 'HttpServerError',
  /** 408, or no full response within the request timeout: retried. */
  Timeout: 'HttpTimeout',
  /** 429: retried, after Retry-After when the server sends one. */
  RateLimited: 'HttpRateLimited',
  /** Other 4xx: not retried. */
  ClientError: 'HttpClientError',
  /** A status outside `expectedStatus` that is none of the above (e.g. a 3xx): not retried. */
  UnexpectedStatus: 'HttpUnexpectedStatus',
  /** DNS, connection refused, reset: retried. */
  NetworkError: 'HttpNetworkError',
} as const;

function retryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function classify(status: number, expected: readonly number[] | undefined): { type: string; retryable: boolean } | undefined {
  const ok = expected === undefined ? status >= 200 && status < 300 : expected.includes(status);
  if (ok) return undefined;
  if (status >= 500) return { type: HttpErrorType.ServerError, retryable: true };
  if (status === 408) return { type: HttpErrorType.Timeout, retryable: true };
  if (status === 429) return { type: HttpErrorType.RateLimited, retryable: true };
  if (status >= 400) return { type: HttpErrorType.ClientError, retryable: false };
  return { type: HttpErrorType.UnexpectedStatus, retryable: false };
}

async function readBody(res: Response): Promise<unknown> {
  const text = await res.text();
  const clipped = text.length > MAX_BODY_CHARS ? text.slice(0, MAX_BODY_CHARS) : text;
  if ((res.headers.get('content-type') ?? '').includes('json') && clipped.length === text.length) {
    try {
      return JSON.parse(text);
    } catch {
      return clipped;
    }
  }
  return clipped;
}

/** Errors from fetch itself (not from a status) that mean "the network failed". */
function isNetworkError(err: unknown): boolean {
  return err instanceof TypeError || (err instanceof Error && (err.name === 'FetchError' || 'code' in err));
}

export function makeRunHttpTask(logger: Logger, userAgent: string, secrets: ReadonlyMap<string, string> = new Map()) {
  return async function runHttpTask(input: HttpTaskInput): Promise<TaskResult> {
    const ctx = Context.current();
    const attempt = input.attempt ?? ctx.info.attempt;
    const { request } = input;
    const log = logger.child({ task_name: input.jobId, workflow_id: ctx.info.workflowExecution?.workflowId, run_id: ctx.info.workflowExecution?.runId, attempt });
    const stamp = stampAttempt(ctx, attempt);
    // Heartbeat while waiting, so a dead worker is noticed within the heartbeat timeout (and the
    // next attempt learns when the first one started).
    ctx.heartbeat(stamp);
    const beat = setInterval(() => ctx.heartbeat(stamp), HEARTBEAT_EVERY_MS);
    const timeout = AbortSignal.timeout(request.timeoutMs);
    const signal = AbortSignal.any([ctx.cancellationSignal, timeout]);
    const started = Date.now();
    log.info({ method: request.method, scheduled_time: input.scheduledAt }, 'attempt started');
    try {
      let res: Response;
      let body: unknown;
      // Resolved here, in the attempt, so the values never travel through Temporal.
      const headers = resolveHeaders(request.headers, secrets);
      try {
        res = await fetch(request.url, {
          method: request.method,
          headers: {
            'user-agent': userAgent,
            ...(request.body !== undefined ? { 'content-type': 'application/json' } : {}),
            ...headers,
            'idempotency-key': input.idempotencyKey,
            'sundial-job-id': input.jobId,
            'sundial-attempt': String(attempt),
          },
          ...(request.body === undefined ? {} : { body: request.body }),
          signal,
        });
        body = await readBody(res);
      } catch (err) {
        if (ctx.cancellationSignal.aborted) throw err;
        if (timeout.aborted) {
          throw ApplicationFailure.create({ type: HttpErrorType.Timeout, message: `no response within ${request.timeoutMs} ms` });
        }
        if (isNetworkError(err)) {
          const cause = (err as Error & { cause?: Error }).cause;
          throw ApplicationFailure.create({
            type: HttpErrorType.NetworkError,
            message: `${request.method} failed: ${cause?.message ?? (err as Error).message}`,
          });
        }
        throw err;
      }
      const failure = classify(res.status, request.expectedStatus);
      if (failure !== undefined) {
        const delay = res.status === 429 ? retryAfterMs(res.headers.get('retry-after')) : undefined;
        throw ApplicationFailure.create({
          type: failure.type,
          message: `${request.method} answered ${res.status}${typeof body === 'string' && body !== '' ? `: ${body.slice(0, 200)}` : ''}`,
          nonRetryable: !failure.retryable,
          ...(delay === undefined ? {} : { nextRetryDelay: delay }),
        });
      }
      log.info({ duration_ms: Date.now() - started, status: 'success', http_status: res.status }, 'attempt finished');
      const result: HttpTaskResult = { status: res.status, body };
      return { result, ...stamp };
    } catch (err) {
      const failure = toActivityFailure(err, ctx, stamp);
      log.warn({ duration_ms: Date.now() - started, status: 'error', error_type: (failure as ApplicationFailure).type ?? failure.name, error_msg: failure.message }, 'attempt failed');
      throw failure;
    } finally {
      clearInterval(beat);
    }
  };
}
