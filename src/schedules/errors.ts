import type { FieldProblem } from '../jobs/spec';

/** No job (schedule) with this id. */
export class JobNotFoundError extends Error {
  override readonly name = 'JobNotFoundError';
  constructor(readonly jobId: string) {
    super(`no job ${JSON.stringify(jobId)}`);
  }
}

/** A job with this id exists already. */
export class JobExistsError extends Error {
  override readonly name = 'JobExistsError';
  constructor(readonly jobId: string) {
    super(`a job ${JSON.stringify(jobId)} exists already`);
  }
}

/** The job is defined in code: changing it over the API would be undone by the next deploy. */
export class CodeJobConflictError extends Error {
  override readonly name = 'CodeJobConflictError';
  constructor(readonly jobId: string) {
    super(
      `job ${JSON.stringify(jobId)} is defined in code; the next deploy would overwrite this change (use ?force=true to change it anyway)`,
    );
  }
}

/** If-Match named a version of the job that is no longer current. */
export class StaleVersionError extends Error {
  override readonly name = 'StaleVersionError';
  constructor(readonly jobId: string) {
    super(`job ${JSON.stringify(jobId)} has changed since the ETag given in If-Match`);
  }
}

/** A JobSpec (or a patch of one) that does not validate. */
export class InvalidJobSpecError extends Error {
  override readonly name = 'InvalidJobSpecError';
  constructor(readonly problems: readonly FieldProblem[]) {
    super(problems.map((p) => `${p.path}: ${p.message}`).join('; '));
  }
}

/** A request that is well-formed but asks for something impossible (e.g. backfill end before start). */
export class InvalidRequestError extends Error {
  override readonly name = 'InvalidRequestError';
  constructor(readonly problems: readonly FieldProblem[]) {
    super(problems.map((p) => `${p.path}: ${p.message}`).join('; '));
  }
}

/** An Idempotency-Key already used for a trigger with another body (other args or reason). */
export class IdempotencyKeyReusedError extends Error {
  override readonly name = 'IdempotencyKeyReusedError';
  constructor(
    readonly jobId: string,
    readonly workflowId: string,
  ) {
    super(
      `this Idempotency-Key already started run ${JSON.stringify(workflowId)} of job ${JSON.stringify(jobId)} with another body (args or reason): use a new key for a different trigger`,
    );
  }
}
