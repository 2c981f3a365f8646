import { ScheduleNotFoundError, type Client } from '@temporalio/client';
import { listSchedulePage } from './listing';

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
  const page = await listSchedulePage(client, opts);
  const items = page.schedules
    .filter((s) => s.createdMemo !== undefined)
    .map((s): ScheduleListing => {
      const [next, after] = s.nextActionTimes;
      return {
        jobId: s.scheduleId,
        paused: s.paused,
        expectedIntervalMs: next && after ? after.getTime() - next.getTime() : undefined,
      };
    });
  return { items, nextPageToken: page.nextPageToken };
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
