import type { Client } from '@temporalio/client';
import { decodeScheduleRecentActions } from '@temporalio/client/lib/schedule-helpers';
import { decodeTypedSearchAttributes } from '@temporalio/common/lib/converter/payload-search-attributes';
import { decodeMapFromPayloads } from '@temporalio/common/lib/internal-non-workflow';
import type { temporal } from '@temporalio/proto';
import { SundialOrigin, SundialRevision } from '../temporal/search-attributes';
import { readMemo, type JobOrigin, type SundialMemo } from './mapping';

/** Filters of the job list, each applied by Temporal's visibility query over schedules. */
export interface JobListFilter {
  readonly origin?: JobOrigin | undefined;
  readonly paused?: boolean | undefined;
  /** Only jobs whose id starts with this text (a job id's characters only). */
  readonly idPrefix?: string | undefined;
}

/**
 * The visibility query for a filter; undefined when nothing is filtered. Values are quoted with
 * JSON string syntax, which is the query language's own; the API admits only id characters.
 */
export function scheduleListQuery(filter: JobListFilter): string | undefined {
  const clauses: string[] = [];
  if (filter.origin !== undefined) clauses.push(`${SundialOrigin.name} = ${JSON.stringify(filter.origin)}`);
  if (filter.paused !== undefined) clauses.push(`TemporalSchedulePaused = ${filter.paused}`);
  if (filter.idPrefix !== undefined) clauses.push(`ScheduleId STARTS_WITH ${JSON.stringify(filter.idPrefix)}`);
  return clauses.length === 0 ? undefined : clauses.join(' AND ');
}

/** One schedule of a listing, with what Sundial reads from it. */
export interface ListedSchedule {
  readonly scheduleId: string;
  /** Sundial's memo on the schedule itself: as written at creation. Undefined: not Sundial's. */
  readonly createdMemo: SundialMemo | undefined;
  /** The `SundialRevision` attribute: the revision last written. Undefined before mapping 2. */
  readonly revision: string | undefined;
  readonly paused: boolean;
  readonly note: string | null;
  readonly nextActionTimes: Date[];
  readonly recentActions: ReturnType<typeof decodeScheduleRecentActions>;
}

/** One page of ListSchedules, decoded. */
export async function listSchedulePage(
  client: Client,
  opts: { pageSize: number; pageToken?: Uint8Array | undefined; query?: string | undefined },
): Promise<{ schedules: ListedSchedule[]; nextPageToken: Uint8Array | undefined }> {
  const res = await client.workflowService.listSchedules({
    namespace: client.options.namespace,
    maximumPageSize: opts.pageSize,
    ...(opts.pageToken === undefined ? {} : { nextPageToken: opts.pageToken }),
    ...(opts.query === undefined ? {} : { query: opts.query }),
  });
  const schedules: ListedSchedule[] = [];
  for (const entry of res.schedules ?? []) {
    if (!entry.scheduleId) continue;
    schedules.push(await decodeEntry(client, entry));
  }
  const token = res.nextPageToken;
  return { schedules, nextPageToken: token !== null && token !== undefined && token.length > 0 ? token : undefined };
}

async function decodeEntry(
  client: Client,
  entry: temporal.api.schedule.v1.IScheduleListEntry,
): Promise<ListedSchedule> {
  // A memo this process cannot decode (another application's codec, or a codec key it does not
  // have) makes that schedule unreadable here, not the whole page.
  const memo = await decodeMapFromPayloads(client.options.loadedDataConverter, entry.memo?.fields).catch(
    () => undefined,
  );
  const revision = decodeTypedSearchAttributes(entry.searchAttributes?.indexedFields).get(SundialRevision);
  const info = entry.info;
  return {
    scheduleId: entry.scheduleId!,
    createdMemo: readMemo({ memo }),
    revision: typeof revision === 'string' && revision !== '' ? revision : undefined,
    paused: info?.paused === true,
    note: info?.notes ? info.notes : null,
    nextActionTimes: (info?.futureActionTimes ?? []).map(
      (t) => new Date(Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6)),
    ),
    recentActions: decodeScheduleRecentActions(info?.recentActions),
  };
}

/**
 * What a job's view holds that only a write changes: one value per revision. Kept per process,
 * bounded; an entry is good exactly as long as the schedule's `SundialRevision` names it.
 */
export class RevisionCache<T> {
  private readonly entries = new Map<string, { revision: string; value: T }>();

  /** @param capacity entries kept; the least recently used goes first. @default 20000 */
  constructor(private readonly capacity = 20_000) {}

  get(id: string, revision: string): T | undefined {
    const hit = this.entries.get(id);
    if (hit === undefined || hit.revision !== revision) return undefined;
    this.entries.delete(id);
    this.entries.set(id, hit);
    return hit.value;
  }

  set(id: string, revision: string, value: T): void {
    this.entries.delete(id);
    this.entries.set(id, { revision, value });
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
  }

  delete(id: string): void {
    this.entries.delete(id);
  }
}
