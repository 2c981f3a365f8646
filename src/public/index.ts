/**
 * `sundial`: what a jobs module imports. Defining jobs, the errors that steer retries, the
 * types of a job's context and of the REST API's answers. Everything else in the package is
 * internal (the `exports` map of package.json is the public surface).
 */
export { defineJob } from '../jobs/define';
export type {
  ActivityJobDefinition,
  DefinedJob,
  HttpJobDefinition,
  JobContext,
  JobDefinition,
  JobHandler,
  WorkflowJobDefinition,
} from '../jobs/define';
export { JobDefinitionError, NonRetryableJobError, RetryableJobError } from '../jobs/errors';
export { JobsModuleError } from '../jobs/load';
export type { JobSpecInput, OverlapPolicy } from '../jobs/spec';
export type { RunOutcome, RunStatus } from '../jobs/run-types';
export type { JobPage, JobResponse, ProblemDocument, RunPage, RunResponse, TriggerResult } from '../api/schemas';
export { ConfigError } from '../config/env';
