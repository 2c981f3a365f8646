import type { HistoryAndWorkflowId } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;

/**
 * A history as JSON in protobufjs's own form (enum names, int64 and bytes as strings,
 * timestamps as `{ seconds, nanos }`), with its workflow id beside the events: a replay must use
 * the recorded id (child workflow ids are derived from it). The SDK's `historyToJSON` and
 * `historyFromJSON` (proto3 JSON, as `temporal workflow show --output json` writes) throw "type
 * must be a Type" with the two protobufjs versions this install has (@temporalio/common's 8,
 * @temporalio/proto's 7).
 */
export function historyToJson(workflowId: string, history: History): string {
  return JSON.stringify({ workflowId, ...(temporal.api.history.v1.History.fromObject(history).toJSON() as Record<string, unknown>) });
}

export function historyFromJson(text: string): HistoryAndWorkflowId {
  const json = JSON.parse(text) as { workflowId: string };
  return { workflowId: json.workflowId, history: temporal.api.history.v1.History.fromObject(json) };
}
