/**
 * `sundial/testing`: test a job's code without Temporal (`runJobCode`), and whole jobs (retries,
 * breaker, fallback) against a real Temporal server with a fast clock (`createTestEnvironment`).
 * docs/testing.md shows both. Only what is listed here is public.
 */
export { runJobCode } from '../testing/job-code';
export type { JobCodeOutcome, RunJobCodeOptions } from '../testing/job-code';
export { createTestEnvironment } from '../testing/environment';
export type { RunJobOptions, TestEnvironment, TestEnvironmentOptions } from '../testing/environment';
export type { FallbackInfo, RunError, RunOutcome, RunStatus } from '../jobs/run-types';
export type { BreakerView } from '../breaker/contract';
