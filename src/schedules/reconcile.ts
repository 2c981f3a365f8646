import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  type Client,
  type ScheduleDescription,
} from '@temporalio/client';
import type { JobRegistry } from '../jobs/registry';
import type { Logger } from '../observability/logger';
import { updateScheduleIfUnchanged } from './compare-and-set';
import { InvalidJobSpecError, JobNotFoundError, StaleVersionError } from './errors';
import { JobStore } from './job-store';
import { listSchedulePage, type ListedSchedule } from './listing';
import { mapWithConcurrency } from '../util/concurrency';
import {
  newWriteStamp,
  readMemo,
  revisionHash,
  toSchedule,
  toScheduleUpdate,
  withInitialPause,
  withPauses,
  type DesiredSchedule,
} from './mapping';

export interface ReconcileReport {
  readonly created: string[];
  readonly updated: string[];
  readonly unchanged: string[];
  /** Schedules created from code, on this task queue, whose job is no longer defined. */
  readonly orphans: string[];
  readonly deleted: string[];
  /** Code jobs whose id is taken by a job created over the API: left alone, never overwritten. */
  readonly conflicts: string[];
  /**
   * API jobs on this task queue written by a Sundial before mapping 2, written again with the
   * same spec and state so that they carry the schedule search attributes the job list uses.
   */
  readonly migrated: string[];
  /** How long the whole reconciliation took, in ms. */
  readonly durationMs: number;
}

/** Schedules per ListSchedules page: the server's own maximum. */
const LIST_PAGE_SIZE = 1000;
/** Jobs created, described or updated at once. */
const CONCURRENCY = 8;

async function describeOrUndefined(client: Client, id: string): Promise<ScheduleDescription | undefined> {
  try {
    return await client.schedule.getHandle(id).describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return undefined;
    throw err;
  }
}

async function reconcileOne(
  client: Client,
  desired: DesiredSchedule,
  listed: ListedSchedule | undefined,
  logger: Logger,
): Promise<'created' | 'updated' | 'unchanged' | 'conflicts'> {
  // The listing names the revision last written, hash first: equal hash, nothing to read or write.
  if (listed?.revision !== undefined && revisionHash(listed.revision) === desired.memo.hash) return 'unchanged';
  let current = listed === undefined ? undefined : await describeOrUndefined(client, desired.scheduleId);
  if (current === undefined) {
    try {
      await client.schedule.create(withInitialPause(desired).options);
      logger.info({ job: desired.scheduleId }, 'schedule created');
      return 'created';
    } catch (err) {
      // Another process starting at the same moment created it first (or the listing had not
      // caught up with it yet): compare with theirs.
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      current = await client.schedule.getHandle(desired.scheduleId).describe();
    }
  }
  const memo = readMemo(current.action) ?? readMemo(current);
  if (memo?.hash === desired.memo.hash) return 'unchanged';
  if (memo === undefined || memo.origin === 'api') {
    // An operator's job (or a schedule Sundial did not make) holds this id: deploys never
    // overwrite it. Rename the code job or delete the other one.
    logger.warn(
      { job: desired.scheduleId, origin: memo?.origin ?? 'foreign' },
      "a code job's id is taken by a schedule not defined in code; left alone",
    );
    return 'conflicts';
  }
  const state = { paused: current.state.paused, note: current.state.note };
  // The paused periods recorded so far stay with the job (the tick ledger reads them).
  const update = toScheduleUpdate(withPauses(desired, readMemo(current.action)?.pauses), state);
  // Against the described version: a change made meanwhile (a forced PATCH) is not clobbered.
  await updateScheduleIfUnchanged(client, desired.scheduleId, update, current.raw.conflictToken ?? new Uint8Array());
  logger.info({ job: desired.scheduleId, from_hash: memo.hash, to_hash: desired.memo.hash }, 'schedule updated');
  return 'updated';
}

/** Every schedule in the namespace, by id, from listings of up to {@link LIST_PAGE_SIZE}. */
async function listAll(client: Client): Promise<Map<string, ListedSchedule>> {
  const all = new Map<string, ListedSchedule>();
  let pageToken: Uint8Array | undefined;
  do {
    const page = await listSchedulePage(client, { pageSize: LIST_PAGE_SIZE, pageToken });
    for (const s of page.schedules) all.set(s.scheduleId, s);
    pageToken = page.nextPageToken;
  } while (pageToken !== undefined);
  return all;
}

/**
 * Makes Temporal's schedules match the code-defined jobs: creates missing ones, updates changed
 * ones, leaves unchanged ones alone. One listing of every schedule tells which jobs changed
 * (each schedule's `SundialRevision` starts with the hash of its spec), so only those are
 * described and updated. Safe to run from several processes at once. Schedules that code
 * created and whose job is gone are reported, and deleted only when `pruneOrphans` is set.
 */
export async function reconcileSchedules(opts: {
  client: Client;
  registry: JobRegistry;
  taskQueue: string;
  logger: Logger;
  pruneOrphans: boolean;
}): Promise<ReconcileReport> {
  const { client, registry, taskQueue, logger } = opts;
  const started = Date.now();
  const report = {
    created: [] as string[],
    updated: [] as string[],
    unchanged: [] as string[],
    orphans: [] as string[],
    deleted: [] as string[],
    conflicts: [] as string[],
    migrated: [] as string[],
  };
  const listed = await listAll(client);
  const results = await mapWithConcurrency(registry.jobs, CONCURRENCY, (job) =>
    reconcileOne(client, toSchedule(job, taskQueue, 'code', newWriteStamp()), listed.get(job.spec.id), logger),
  );
  registry.jobs.forEach((job, i) => report[results[i]!].push(job.spec.id));
  const wanted = new Set(registry.jobs.map((j) => j.spec.id));
  for (const s of listed.values()) {
    const memo = s.createdMemo;
    if (memo?.origin !== 'code' || memo.taskQueue !== taskQueue || wanted.has(s.scheduleId)) continue;
    report.orphans.push(s.scheduleId);
    if (opts.pruneOrphans) {
      try {
        await client.schedule.getHandle(s.scheduleId).delete();
        report.deleted.push(s.scheduleId);
        logger.info({ job: s.scheduleId }, 'orphaned code schedule deleted');
      } catch (err) {
        if (!(err instanceof ScheduleNotFoundError)) throw err;
      }
    } else {
      logger.warn(
        { job: s.scheduleId },
        'schedule created from code has no job definition any more (set SUNDIAL_PRUNE_ORPHANS=true to delete it)',
      );
    }
  }
  report.migrated.push(...(await migrateApiJobs(client, registry, taskQueue, [...listed.values()], logger)));
  return { ...report, durationMs: Date.now() - started };
}

/**
 * Writes API jobs made by a Sundial before mapping 2 again, unchanged, as a PATCH with an empty
 * patch would: until then they lack `SundialOrigin`/`SundialRevision`, so an origin filter
 * misses them and every listing describes them. Once per job; a job changed meanwhile (it got
 * the attributes from that write) or whose old spec no longer validates is left as it is.
 */
async function migrateApiJobs(
  client: Client,
  registry: JobRegistry,
  taskQueue: string,
  listed: ListedSchedule[],
  logger: Logger,
): Promise<string[]> {
  const old = listed.filter(
    (s) => s.revision === undefined && s.createdMemo?.origin === 'api' && s.createdMemo.taskQueue === taskQueue,
  );
  if (old.length === 0) return [];
  const store = new JobStore({ client, registry, taskQueue, webUiUrl: '' });
  const done = await mapWithConcurrency(old, CONCURRENCY, async (s) => {
    try {
      await store.patch(s.scheduleId, {}, {});
      return s.scheduleId;
    } catch (err) {
      if (err instanceof JobNotFoundError || err instanceof StaleVersionError) return undefined;
      if (!(err instanceof InvalidJobSpecError)) throw err;
      logger.warn(
        { job: s.scheduleId, problems: err.problems },
        'an API job written by an older Sundial no longer validates; left as it is (the job list describes it)',
      );
      return undefined;
    }
  });
  const migrated = done.filter((id): id is string => id !== undefined);
  if (migrated.length > 0)
    logger.info({ jobs: migrated.length }, "API jobs written again to carry the job list's search attributes");
  return migrated;
}

/** Ids named in the log line per kind; the counts are always complete. */
const LOGGED_IDS = 50;

/**
 * The report as one log line's fields: the time taken, counts, and the ids of what changed or
 * needs a look (at most {@link LOGGED_IDS} of each kind: a first start can create thousands).
 */
export function reconcileSummary(report: ReconcileReport): Record<string, unknown> {
  const kinds = ['created', 'updated', 'unchanged', 'conflicts', 'orphans', 'deleted', 'migrated'] as const;
  return {
    duration_ms: report.durationMs,
    counts: Object.fromEntries(kinds.map((k) => [k, report[k].length])),
    ...Object.fromEntries(kinds.filter((k) => k !== 'unchanged').map((k) => [k, report[k].slice(0, LOGGED_IDS)])),
  };
}
