/** What a jobs module imports: defining jobs, the errors that steer retries, the context type. */
export { defineJob } from './define';
export type { JobContext, JobHandler, DefinedJob } from './define';
export { NonRetryableJobError, RetryableJobError } from './errors';
