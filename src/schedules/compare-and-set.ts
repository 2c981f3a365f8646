import { randomUUID } from 'node:crypto';
import type { Client, ScheduleUpdateOptions } from '@temporalio/client';
import { compileUpdatedScheduleOptions, encodeScheduleAction, encodeSchedulePolicies, encodeScheduleSpec, encodeScheduleState } from '@temporalio/client/lib/schedule-helpers';

/**
 * Updates a schedule only if it is still at `conflictToken`: a real compare-and-set. The SDK's
 * `handle.update` does not send the token, so this builds the UpdateSchedule request with the
 * SDK's own encoders and calls the workflow service directly.
 * @throws the gRPC error (FAILED_PRECONDITION) when the token is stale.
 */
export async function updateScheduleIfUnchanged(client: Client, scheduleId: string, options: ScheduleUpdateOptions, conflictToken: Uint8Array): Promise<void> {
  const compiled = compileUpdatedScheduleOptions(scheduleId, options);
  const namespace = client.options.namespace;
  await client.workflowService.updateSchedule({
    namespace,
    scheduleId,
    conflictToken,
    schedule: {
      spec: encodeScheduleSpec(compiled.spec),
      action: await encodeScheduleAction(client.options.loadedDataConverter, namespace, compiled.action, {}),
      policies: encodeSchedulePolicies(compiled.policies),
      state: encodeScheduleState(compiled.state),
    },
    identity: client.options.identity,
    requestId: randomUUID(),
  });
}
