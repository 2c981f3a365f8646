import { StringDecoder } from 'node:string_decoder';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { EgressDeniedError, sendGuarded, type GuardedResponse } from '../egress/http-client';
import type { EgressPolicy } from '../egress/policy';
import type { HttpRequestPlan, RetryPlan, TaskResult } from '../jobs/run-types';
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
  /**
   * The job's retry policy, when Temporal runs the retries: the activity then sets each retryable
   * failure's next retry delay, with jitter. Absent when the workflow retries (it computes its own).
   */
  readonly retry?: RetryPlan;
}

export interface HttpTaskResult {
  readonly status: number;
  readonly body: unknown;
  /** Present when the body was longer than {@link MAX_BODY_BYTES}: `body` is its start, as text. */
  readonly truncated?: true;
}

/** The most of a response body an attempt reads, in bytes (after decompression); the rest is never read. */
export const MAX_BODY_BYTES = 64 * 1024;

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
  /** The URL, a redirect, or an address its name resolves to is refused by the egress policy: not retried, no connection made. */
  EgressDenied: 'EgressDenied',
} as const;

function retryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function classify(
  status: number,
  expected: readonly number[] | undefined,
): { type: string; retryable: boolean } | undefined {
  const ok = expected === undefined ? status >= 200 && status < 300 : expected.includes(status);
  if (ok) return undefined;
  if (status >= 500) return { type: HttpErrorType.ServerError, retryable: true };
  if (status === 408) return { type: HttpErrorType.Timeout, retryable: true };
  if (status === 429) return { type: HttpErrorType.RateLimited, retryable: true };
  if (status >= 400) return { type: HttpErrorType.ClientError, retryable: false };
  return { type: HttpErrorType.UnexpectedStatus, retryable: false };
}

/** The body as the result shows it: parsed JSON when whole and JSON, else text (cut at a whole character). */
function readBody(res: GuardedResponse): unknown {
  const text = new StringDecoder('utf8').write(res.body);
  if (!res.truncated && (res.headers['content-type'] ?? '').includes('json')) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

/** Errors of the request itself (not of a status) that mean "the network failed". */
function isNetworkError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || 'code' in err);
}

/**
 * The HTTP task: `egress` decides where it may connect (src/egress/policy.ts); `secrets` holds
 * the values of the secret references its headers may make.
 */
export function makeRunHttpTask(
  logger: Logger,
  userAgent: string,
  egress: EgressPolicy,
  secrets: ReadonlyMap<string, string> = new Map(),
) {
  return async function runHttpTask(input: HttpTaskInput): Promise<TaskResult> {
    const ctx = Context.current();
    const attempt = input.attempt ?? ctx.info.attempt;
    const { request } = input;
    const log = logger.child({
      task_name: input.jobId,
      workflow_id: ctx.info.workflowExecution?.workflowId,
      run_id: ctx.info.workflowExecution?.runId,
      attempt,
    });
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
      let res: GuardedResponse;
      let body: unknown;
      // Resolved here, in the attempt, so the values never travel through Temporal.
      const headers = resolveHeaders(request.headers, secrets);
      try {
        res = await sendGuarded(egress, {
          url: request.url,
          method: request.method,
          defaultHeaders: { 'user-agent': userAgent, accept: '*/*', 'accept-encoding': 'gzip, deflate, br' },
          headers: {
            'idempotency-key': input.idempotencyKey,
            'sundial-job-id': input.jobId,
            'sundial-attempt': String(attempt),
          },
          // The job's own headers (secret values resolved) go to the first URL's origin only.
          originHeaders: { ...(request.body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
          ...(request.body === undefined ? {} : { body: request.body }),
          signal,
          maxBodyBytes: MAX_BODY_BYTES,
          maxRedirects: request.maxRedirects ?? 0,
        });
        body = readBody(res);
      } catch (err) {
        if (ctx.cancellationSignal.aborted) throw err;
        if (err instanceof EgressDeniedError) {
          // Not retried: the policy will say the same next time, and no connection was made.
          throw ApplicationFailure.create({
            type: HttpErrorType.EgressDenied,
            message: `${request.method} refused by the egress policy: ${err.message}`,
            nonRetryable: true,
          });
        }
        if (timeout.aborted) {
          throw ApplicationFailure.create({
            type: HttpErrorType.Timeout,
            message: `no response within ${request.timeoutMs} ms`,
          });
        }
        if (isNetworkError(err)) {
          throw ApplicationFailure.create({
            type: HttpErrorType.NetworkError,
            message: `${request.method} failed: ${(err as Error).message}`,
          });
        }
        throw err;
      }
      const failure = classify(res.status, request.expectedStatus);
      if (failure !== undefined) {
        const retryAfter = res.headers['retry-after'];
        const delay = res.status === 429 ? retryAfterMs(typeof retryAfter === 'string' ? retryAfter : null) : undefined;
        throw ApplicationFailure.create({
          type: failure.type,
          message: `${request.method} answered ${res.status}${typeof body === 'string' && body !== '' ? `: ${body.slice(0, 200)}` : ''}`,
          nonRetryable: !failure.retryable,
          ...(delay === undefined ? {} : { nextRetryDelay: delay }),
        });
      }
      log.info({ duration_ms: Date.now() - started, status: 'success', http_status: res.status }, 'attempt finished');
      const result: HttpTaskResult = {
        status: res.status,
        body,
        ...(res.truncated ? { truncated: true as const } : {}),
      };
      return { result, ...stamp };
    } catch (err) {
      const failure = toActivityFailure(err, ctx, stamp, input.retry);
      log.warn(
        {
          duration_ms: Date.now() - started,
          status: 'error',
          error_type: (failure as ApplicationFailure).type ?? failure.name,
          error_msg: failure.message,
        },
        'attempt failed',
      );
      throw failure;
    } finally {
      clearInterval(beat);
    }
  };
}
