import type { Client } from '@temporalio/client';
import type { JobRegistry } from '../../src/jobs/registry';
import type { RunOutcome } from '../../src/jobs/run-types';
import { runJobWorkflow } from '../../src/testing/run';
import { unique } from './temporal';

/**
 * Runs a registered job once, as a manual trigger would, and returns its outcome whether it
 * succeeded or failed (the test kit's {@link runJobWorkflow}, over a registry and a queue).
 */
export async function runOnce(
  client: Client,
  registry: JobRegistry,
  jobId: string,
  taskQueue: string,
): Promise<RunOutcome> {
  const job = registry.get(jobId);
  if (job === undefined) throw new Error(`no job ${jobId}`);
  return runJobWorkflow(client, job.run, { taskQueue, workflowId: unique(jobId) });
}
