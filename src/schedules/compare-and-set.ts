import { randomUUID } from 'node:crypto';
import {
  ScheduleAlreadyRunning,
  type Client,
  type ScheduleDescription,
  type ScheduleOptions,
  type ScheduleUpdateOptions,
} from '@temporalio/client';
import {
  compileScheduleOptions,
  compileUpdatedScheduleOptions,
  encodeScheduleAction,
  encodeSchedulePolicies,
  encodeScheduleSpec,
  encodeScheduleState,
} from '@temporalio/client/lib/schedule-helpers';
import { encodeUnifiedSearchAttributes } from '@temporalio/common/lib/converter/payload-search-attributes';
import { encodeMapToPayloads } from '@temporalio/common/lib/internal-non-workflow';

/** gRPC's ALREADY_EXISTS: what CreateSchedule answers for a schedule id in use. */
const ALREADY_EXISTS = 6;

/**
 * Creates a schedule and returns its conflict token, which the SDK's `schedule.create` drops:
 * with it, the caller can answer with an ETag without describing the schedule it just made.
 * Sundial's schedules use neither `triggerImmediately` nor `backfill` at creation, so the
 * request has no initial patch.
 * @throws ScheduleAlreadyRunning when the id is taken.
 */
export async function createSchedule(client: Client, options: ScheduleOptions): Promise<Uint8Array> {
  const compiled = compileScheduleOptions(options);
  const namespace = client.options.namespace;
  try {
    const res = await client.workflowService.createSchedule({
      namespace,
      identity: client.options.identity,
      requestId: randomUUID(),
      scheduleId: compiled.scheduleId,
      schedule: {
        spec: encodeScheduleSpec(compiled.spec),
        action: await encodeScheduleAction(client.options.loadedDataConverter, namespace, compiled.action, {}),
        policies: encodeSchedulePolicies(compiled.policies),
        state: encodeScheduleState(compiled.state),
      },
      ...(compiled.memo === undefined
        ? {}
        : { memo: { fields: await encodeMapToPayloads(client.options.loadedDataConverter, compiled.memo) } }),
      ...(compiled.typedSearchAttributes === undefined
        ? {}
        : {
            searchAttributes: {
              indexedFields: encodeUnifiedSearchAttributes(undefined, compiled.typedSearchAttributes),
            },
          }),
    });
    return res.conflictToken ?? new Uint8Array();
  } catch (err) {
    if ((err as { code?: unknown }).code === ALREADY_EXISTS)
      throw new ScheduleAlreadyRunning('Schedule already exists and is running', compiled.scheduleId);
    throw err;
  }
}

/**
 * Updates a schedule only if it is still at `conflictToken`: a real compare-and-set. The SDK's
 * `handle.update` does not send the token, so this builds the UpdateSchedule request with the
 * SDK's own encoders and calls the workflow service directly. The schedule's search attributes
 * are replaced by the update's, when it has any.
 * @throws the gRPC error (FAILED_PRECONDITION) when the token is stale.
 */
export async function updateScheduleIfUnchanged(
  client: Client,
  scheduleId: string,
  options: ScheduleUpdateOptions,
  conflictToken: Uint8Array,
): Promise<void> {
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
    ...(compiled.typedSearchAttributes === undefined
      ? {}
      : {
          searchAttributes: { indexedFields: encodeUnifiedSearchAttributes(undefined, compiled.typedSearchAttributes) },
        }),
    identity: client.options.identity,
    requestId: randomUUID(),
  });
}

/**
 * Sets a schedule's paused state and note and one entry of its action's memo, leaving everything
 * else as described: the described schedule is sent back as Temporal gave it (raw, so nothing is
 * recompiled or re-encoded but the memo entry), against its conflict token. Used where a pause
 * must be recorded with the state change (PatchSchedule cannot touch the memo).
 * @throws the gRPC error (FAILED_PRECONDITION) when the token is stale.
 */
export async function updateStateAndActionMemo(
  client: Client,
  described: ScheduleDescription,
  state: { paused: boolean; note: string },
  memo: { key: string; value: unknown },
): Promise<void> {
  const schedule = described.raw.schedule;
  const start = schedule?.action?.startWorkflow;
  if (schedule === null || schedule === undefined || start === null || start === undefined)
    throw new Error(`schedule ${described.scheduleId} has no start-workflow action`);
  const encoded = await encodeMapToPayloads(client.options.loadedDataConverter, { [memo.key]: memo.value });
  await client.workflowService.updateSchedule({
    namespace: client.options.namespace,
    scheduleId: described.scheduleId,
    conflictToken: described.raw.conflictToken ?? new Uint8Array(),
    schedule: {
      spec: schedule.spec,
      policies: schedule.policies,
      action: { startWorkflow: { ...start, memo: { fields: { ...(start.memo?.fields ?? {}), ...encoded } } } },
      state: { ...schedule.state, paused: state.paused, notes: state.note },
    },
    identity: client.options.identity,
    requestId: randomUUID(),
  });
}
