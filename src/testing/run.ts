import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { JOB_WORKFLOW_TYPE, type JobRunInput, type RunOutcome } from '../jobs/run-types';
import { SundialJobId } from '../temporal/search-attributes';

/**
 * Runs one job run to its end, as a manual trigger would (the job's `jobWorkflow` started
 * directly, not through its schedule), and returns its outcome whether it succeeded or failed:
 * a failed run carries its outcome in the failure's details.
 * @throws what the client throws when the run does not end with an outcome (e.g. terminated).
 */
export async function runJobWorkflow(
  client: Client,
  input: JobRunInput,
  opts: { readonly taskQueue: string; readonly workflowId: string },
): Promise<RunOutcome> {
  try {
    // SundialJobId as schedules and keyed triggers set it: the runs API answers only runs that carry it.
    return await client.workflow.execute(JOB_WORKFLOW_TYPE, {
      taskQueue: opts.taskQueue,
      workflowId: opts.workflowId,
      args: [input],
      typedSearchAttributes: [{ key: SundialJobId, value: input.jobId }],
    });
  } catch (err) {
    if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure) {
      const outcome = err.cause.details?.[0] as RunOutcome | undefined;
      if (outcome !== undefined) return outcome;
    }
    throw err;
  }
}
