import { ScheduleNotFoundError, type Client } from '@temporalio/client';
import { decodeMapFromPayloads } from '@temporalio/common/lib/internal-non-workflow';
import { tsToMs } from '@temporalio/common/lib/time';
import { readMemo } from './mapping';

/** A job's schedule state as the schedule listing shows it, for metrics. */
export interface ScheduleListing {
  readonly jobId: string;
  readonly paused: boolean;
  /** The gap between the next two fire times in ms; undefined when fewer than two are known. */
  readonly expectedIntervalMs: number | undefined;
}

/** The counters only a describe returns: cumulative since the schedule was created. */
export interface ScheduleCounters {
  /** Ticks missed because they fell outside the catch-up window. */
  readonly missed: number;
  /** Ticks the overlap policy skipped. */
  readonly skippedOverlap: number;
}

/**
 * One page of the namespace's schedules, as the listing holds them (no describe per schedule).
 * Schedules not made by Sundial (no Sundial memo) are left out.
 */
export async function listSchedulesPage(
  client: Client,
  opts: { pageSize: number; pageToken?: Uint8Array },
): Promise<{ items: ScheduleListing[]; nextPageToken: Uint8Array | undefined }> {
  const res = await client.workflowService.listSchedules({
    namespace: client.options.namespace,
    maximumPageSize: opts.pageSize,
    ...(opts.pageToken === undefined ? {} : { nextPageToken: opts.pageToken }),
  });
  const items: ScheduleListing[] = [];
  for (const raw of res.schedules ?? []) {
    if (!raw.scheduleId) continue;
    const memo = await decodeMapFromPayloads(client.options.loadedDataConverter, raw.memo?.fields);
    if (readMemo({ memo }) === undefined) continue;
    const [next, after] = raw.info?.futureActionTimes ?? [];
    items.push({
      jobId: raw.scheduleId,
      paused: raw.info?.paused === true,
      expectedIntervalMs: next && after ? tsToMs(after) - tsToMs(next) : undefined,
    });
  }
  const token = res.nextPageToken;
  return { items, nextPageToken: token && token.length > 0 ? token : undefined };
}

/** A schedule's describe-only counters; undefined when the schedule no longer exists. */
export async function describeScheduleCounters(client: Client, jobId: string): Promise<ScheduleCounters | undefined> {
  try {
    const desc = await client.schedule.getHandle(jobId).describe();
    return { missed: desc.info.numActionsMissedCatchupWindow, skippedOverlap: desc.info.numActionsSkippedOverlap };
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return undefined;
    throw err;
  }
}
