import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { createActivities } from '../../activities';
import type { HttpRequestPlan } from '../../jobs/run-types';

type Activities = ReturnType<typeof createActivities>;

export interface HttpSequenceArgs {
  readonly steps: readonly HttpRequestPlan[];
}

const { runHttpTask } = proxyActivities<Activities>({
  startToCloseTimeout: '5m',
  heartbeatTimeout: '5s',
  // One try per step: the job's own retry policy retries the whole sequence.
  retry: { maximumAttempts: 1 },
});

/**
 * A multi-step job: calls URLs in order, stopping at the first failure. Use it as
 * `defineJob({ workflow: 'httpSequenceWorkflow', args: { steps: [...] } })`; each step's
 * idempotency key is stable across the job's attempts.
 */
export async function httpSequenceWorkflow(args: HttpSequenceArgs): Promise<Array<{ status: number }>> {
  const info = workflowInfo();
  const runKey = info.parent?.workflowId ?? info.workflowId;
  const results: Array<{ status: number }> = [];
  for (const [i, request] of args.steps.entries()) {
    const { result } = await runHttpTask({
      jobId: runKey,
      request,
      idempotencyKey: `${runKey}/step-${i + 1}`,
      scheduledAt: info.startTime.toISOString(),
    });
    results.push({ status: (result as { status: number }).status });
  }
  return results;
}
