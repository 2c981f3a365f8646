import type { NextFunction, Request, Response } from 'express';
import { ServiceError } from '@temporalio/client';
import type { Logger } from '../observability/logger';
import { AuditUnavailableError } from '../audit/store';
import {
  CodeJobConflictError,
  IdempotencyKeyReusedError,
  InvalidJobSpecError,
  InvalidRequestError,
  JobExistsError,
  JobNotFoundError,
  StaleVersionError,
} from '../schedules/errors';
import { BreakerNotFoundError } from '../breaker/store';
import { RunNotFoundError } from '../runs/errors';
import { sendProblem, type Problem } from './problem';

const TYPE = 'https://sundial.dev/problems/';

/** gRPC codes that mean "Temporal is not there right now". */
const UNAVAILABLE = new Set([
  1 /* CANCELLED: how some calls end at their deadline */, 4 /* DEADLINE_EXCEEDED */, 14 /* UNAVAILABLE */,
]);

/** gRPC's INVALID_ARGUMENT. */
const INVALID_ARGUMENT = 3;

/** Seconds a client should wait before retrying when Temporal is unavailable. */
export const RETRY_AFTER_SECONDS = 5;

/** Thrown by request parsing: the body or query does not validate. */
export class RequestValidationError extends Error {
  override readonly name = 'RequestValidationError';
  constructor(readonly errors: ReadonlyArray<{ path: string; message: string }>) {
    super(errors.map((e) => `${e.path}: ${e.message}`).join('; '));
  }
}

function grpcCode(err: unknown): number | undefined {
  let e: unknown = err;
  for (let i = 0; i < 4 && e !== undefined && e !== null; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'number') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Domain errors to RFC 9457 problem documents: the one place that decides statuses. */
export function toProblem(err: unknown): Problem | undefined {
  if (
    err instanceof RequestValidationError ||
    err instanceof InvalidJobSpecError ||
    err instanceof InvalidRequestError
  ) {
    const errors = err instanceof RequestValidationError ? err.errors : err.problems;
    return { type: `${TYPE}validation`, title: 'Invalid request', status: 400, detail: err.message, errors };
  }
  if (err instanceof JobNotFoundError)
    return { type: `${TYPE}job-not-found`, title: 'Job not found', status: 404, detail: err.message };
  if (err instanceof BreakerNotFoundError)
    return { type: `${TYPE}breaker-not-found`, title: 'Breaker not found', status: 404, detail: err.message };
  if (err instanceof RunNotFoundError)
    return { type: `${TYPE}run-not-found`, title: 'Run not found', status: 404, detail: err.message };
  if (err instanceof JobExistsError)
    return { type: `${TYPE}job-exists`, title: 'Job exists', status: 409, detail: err.message };
  if (err instanceof CodeJobConflictError)
    return { type: `${TYPE}code-job`, title: 'Job is defined in code', status: 409, detail: err.message };
  if (err instanceof IdempotencyKeyReusedError)
    return { type: `${TYPE}idempotency-key-reused`, title: 'Idempotency-Key reused', status: 422, detail: err.message };
  if (err instanceof AuditUnavailableError)
    return { type: `${TYPE}audit-unavailable`, title: 'Audit unavailable', status: 503, detail: err.message };
  if (err instanceof StaleVersionError)
    return { type: `${TYPE}stale-version`, title: 'Precondition failed', status: 412, detail: err.message };
  const code = grpcCode(err);
  // A backstop: what the API sends Temporal is validated first, so Temporal refusing it as
  // invalid is a request the validation let through, still the client's to change, not a 500.
  if (code === INVALID_ARGUMENT) {
    return {
      type: `${TYPE}validation`,
      title: 'Invalid request',
      status: 400,
      detail: `Temporal refused the request: ${(err as Error).message.slice(0, 300)}`,
    };
  }
  if (
    (code !== undefined && UNAVAILABLE.has(code)) ||
    (err instanceof ServiceError && /deadline|unavailable|connect/i.test(err.message))
  ) {
    return {
      type: `${TYPE}temporal-unavailable`,
      title: 'Temporal is unavailable',
      status: 503,
      detail: 'Temporal did not answer in time; retry later',
    };
  }
  return undefined;
}

/** Express error middleware: body-parser errors, domain errors, and a bare 500 for the rest. */
export function errorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const bodyError = err as { type?: string; status?: number; charset?: string; expose?: boolean };
    if (bodyError.type === 'charset.unsupported' || bodyError.type === 'encoding.unsupported') {
      const what =
        bodyError.type === 'charset.unsupported'
          ? [
              'content-type',
              `charset ${JSON.stringify(String(bodyError.charset ?? '').slice(0, 40))} is not supported: send UTF-8`,
            ]
          : ['content-encoding', 'is not supported: send gzip, deflate, br or none'];
      sendProblem(res, {
        type: `${TYPE}unsupported-media-type`,
        title: 'Unsupported Media Type',
        status: 415,
        detail: `header ${what[0]}: ${what[1]}`,
        errors: [{ path: `header.${what[0]}`, message: what[1]! }],
      });
      return;
    }
    if (bodyError.type === 'entity.too.large') {
      sendProblem(res, {
        type: `${TYPE}too-large`,
        title: 'Payload too large',
        status: 413,
        detail: 'the request body is over the size limit',
      });
      return;
    }
    if (bodyError.type === 'entity.parse.failed') {
      sendProblem(res, {
        type: `${TYPE}validation`,
        title: 'Malformed JSON',
        status: 400,
        detail: 'the request body is not valid JSON',
        errors: [{ path: '(body)', message: 'not valid JSON' }],
      });
      return;
    }
    // Any other refusal of body-parser's (an aborted or mis-sized body): a client error, as it says.
    if (
      typeof bodyError.type === 'string' &&
      bodyError.expose === true &&
      typeof bodyError.status === 'number' &&
      bodyError.status >= 400 &&
      bodyError.status < 500
    ) {
      sendProblem(res, {
        type: `${TYPE}bad-request`,
        title: 'Bad Request',
        status: bodyError.status,
        detail: `the request body was refused: ${bodyError.type}`,
      });
      return;
    }
    const problem = toProblem(err);
    if (problem !== undefined) {
      if (problem.status === 503) res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
      sendProblem(res, problem);
      return;
    }
    const cause = (err as { cause?: Error })?.cause;
    logger.error(
      {
        error_type: (err as Error)?.name,
        error_msg: (err as Error)?.message,
        cause_msg: cause?.message,
        grpc_code: grpcCode(err),
        method: req.method,
        path: req.path,
      },
      'request failed',
    );
    sendProblem(res, {
      type: 'about:blank',
      title: 'Internal Server Error',
      status: 500,
      detail: 'an unexpected error occurred; see the server log',
    });
  };
}
