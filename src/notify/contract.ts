import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { NotifyState, RecordRunRequest, RecordRunResponse } from './plan';

/** Records one finished run in the job's notification entity; answers the state before and after it. */
export const recordRunUpdate = defineUpdate<RecordRunResponse, [RecordRunRequest]>('recordRun');

/** The job's notification state now. */
export const notifyStateQuery = defineQuery<NotifyState>('notifyState');
