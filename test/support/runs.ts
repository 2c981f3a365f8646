import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { JobRegistry } from '../../src/jobs/registry';
import type { RunOutcome } from '../../src/jobs/run-types';
import { SundialJobId } from '../../src/temporal/search-attributes';
import { unique } from './temporal';

/**
 * Runs a registered job once, as a manual trigger would, and returns its outcome whether it
 * succeeded or failed (a failed run carries its outcome in the failure's details).
 */
export async function runOnce(client: Client, registry: JobRegistry, jobId: string, taskQueue: string): Promise<RunOutcome> {
  const job = registry.get(jobId);
  if (job === undefined) throw new Error(`no job ${jobId}`);
  try {
    // SundialJobId as schedules and keyed triggers set it: the runs API answers only runs that carry it.
    return await client.workflow.execute('jobWorkflow', { taskQueue, workflowId: unique(jobId), args: [job.run], typedSearchAttributes: [{ key: SundialJobId, value: jobId }] });
  } catch (err) {
    if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure) {
      const outcome = err.cause.details?.[0] as RunOutcome | undefined;
      if (outcome !== undefined) return outcome;
    }
    throw err;
  }
}
