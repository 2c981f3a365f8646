import type { FieldProblem } from './spec';

/**
 * Throw from a job to have the attempt retried per the job's retry policy. Any other error is
 * retried too; this class exists to say so explicitly.
 */
export class RetryableJobError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = this.constructor.name;
  }
}

/** Throw from a job to fail the run at once, without further attempts. */
export class NonRetryableJobError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = this.constructor.name;
  }
}

/** One or more job definitions are invalid. The message names each job and field. */
export class JobDefinitionError extends Error {
  override readonly name = 'JobDefinitionError';
  constructor(readonly problems: ReadonlyArray<FieldProblem & { readonly jobId: string }>) {
    super(
      `invalid job definition${problems.length > 1 ? 's' : ''}:\n` +
        problems.map((p) => `  job ${JSON.stringify(p.jobId)}, field ${p.path}: ${p.message}`).join('\n'),
    );
  }
}
