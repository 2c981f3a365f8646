import { Context } from '@temporalio/activity';
import { WithStartWorkflowOperation } from '@temporalio/client';
import {
  admitUpdate,
  BREAKER_WORKFLOW_TYPE,
  breakerWorkflowId,
  cachedQuery,
  recordUpdate,
  type AdmitRequest,
  type AdmitResponse,
  type BreakerView,
  type CachedResult,
  type RecordRequest,
} from '../breaker/contract';

/**
 * The update id of this call: the same for every retry of this activity (an answer lost after
 * the breaker applied the update, then the local activity retried), distinct for every other
 * call. The breaker then applies each admit and each record once: a retried admit gets the
 * permit it was given, a retried record is not counted twice. Temporal deduplicates update ids
 * per run of the breaker entity, so a retry that straddles its continue-as-new (every 500
 * updates) is applied again.
 */
export function breakerUpdateId(
  phase: 'admit' | 'record',
  info: Pick<Context['info'], 'workflowExecution' | 'activityId'>,
): string {
  const run = info.workflowExecution;
  return `${phase}/${run?.workflowId ?? ''}/${run?.runId ?? ''}/${info.activityId}`;
}

/**
 * The job workflow's way to its breaker: workflows cannot send updates to other workflows, so
 * these activities do, with the worker's own client. The breaker entity is started on first use.
 */
export function makeBreakerActivities() {
  return {
    async breakerAdmit(key: string, req: AdmitRequest): Promise<AdmitResponse> {
      const ctx = Context.current();
      return ctx.client.workflow.executeUpdateWithStart(admitUpdate, {
        args: [req],
        updateId: breakerUpdateId('admit', ctx.info),
        startWorkflowOperation: new WithStartWorkflowOperation(BREAKER_WORKFLOW_TYPE, {
          workflowId: breakerWorkflowId(key),
          taskQueue: ctx.info.taskQueue,
          workflowIdConflictPolicy: 'USE_EXISTING',
          args: [{ key }],
        }),
      });
    },
    async breakerRecord(key: string, req: RecordRequest): Promise<BreakerView> {
      const ctx = Context.current();
      return ctx.client.workflow
        .getHandle(breakerWorkflowId(key))
        .executeUpdate(recordUpdate, { args: [req], updateId: breakerUpdateId('record', ctx.info) });
    },
    async breakerCached(key: string, jobId: string): Promise<CachedResult | null> {
      return Context.current().client.workflow.getHandle(breakerWorkflowId(key)).query(cachedQuery, jobId);
    },
  };
}
