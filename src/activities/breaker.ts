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
 * The job workflow's way to its breaker: workflows cannot send updates to other workflows, so
 * these activities do, with the worker's own client. The breaker entity is started on first use.
 */
export function makeBreakerActivities() {
  return {
    async breakerAdmit(key: string, req: AdmitRequest): Promise<AdmitResponse> {
      const ctx = Context.current();
      return ctx.client.workflow.executeUpdateWithStart(admitUpdate, {
        args: [req],
        startWorkflowOperation: new WithStartWorkflowOperation(BREAKER_WORKFLOW_TYPE, {
          workflowId: breakerWorkflowId(key),
          taskQueue: ctx.info.taskQueue,
          workflowIdConflictPolicy: 'USE_EXISTING',
          args: [{ key }],
        }),
      });
    },
    async breakerRecord(key: string, req: RecordRequest): Promise<BreakerView> {
      return Context.current().client.workflow.getHandle(breakerWorkflowId(key)).executeUpdate(recordUpdate, { args: [req] });
    },
    async breakerCached(key: string, jobId: string): Promise<CachedResult | null> {
      return Context.current().client.workflow.getHandle(breakerWorkflowId(key)).query(cachedQuery, jobId);
    },
  };
}
