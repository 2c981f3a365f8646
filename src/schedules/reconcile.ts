import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client, type ScheduleDescription } from '@temporalio/client';
import type { JobRegistry } from '../jobs/registry';
import type { Logger } from '../observability/logger';
import { readMemo, toSchedule, toScheduleUpdate, type DesiredSchedule } from './mapping';

export interface ReconcileReport {
  readonly created: string[];
  readonly updated: string[];
  readonly unchanged: string[];
  /** Schedules created from code, on this task queue, whose job is no longer defined. */
  readonly orphans: string[];
  readonly deleted: string[];
  /** Code jobs whose id is taken by a job created over the API: left alone, never overwritten. */
  readonly conflicts: string[];
}

async function describeOrUndefined(client: Client, id: string): Promise<ScheduleDescription | undefined> {
  try {
    return await client.schedule.getHandle(id).describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return undefined;
    throw err;
  }
}

async function reconcileOne(client: Client, desired: DesiredSchedule, logger: Logger): Promise<'created' | 'updated' | 'unchanged' | 'conflicts'> {
  let current = await describeOrUndefined(client, desired.scheduleId);
  if (current === undefined) {
    try {
      await client.schedule.create(desired.options);
      logger.info({ job: desired.scheduleId }, 'schedule created');
      return 'created';
    } catch (err) {
      // Another process starting at the same moment created it first: compare with theirs.
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      current = await client.schedule.getHandle(desired.scheduleId).describe();
    }
  }
  const memo = readMemo(current.action) ?? readMemo(current);
  if (memo?.hash === desired.memo.hash) return 'unchanged';
  if (memo === undefined || memo.origin === 'api') {
    // An operator's job (or a schedule Sundial did not make) holds this id: deploys never
    // overwrite it. Rename the code job or delete the other one.
    logger.warn({ job: desired.scheduleId, origin: memo?.origin ?? 'foreign' }, 'a code job\'s id is taken by a schedule not defined in code; left alone');
    return 'conflicts';
  }
  const state = { paused: current.state.paused, note: current.state.note };
  await client.schedule.getHandle(desired.scheduleId).update(() => toScheduleUpdate(desired, state));
  logger.info({ job: desired.scheduleId, from_hash: memo?.hash, to_hash: desired.memo.hash }, 'schedule updated');
  return 'updated';
}

/**
 * Makes Temporal's schedules match the code-defined jobs: creates missing ones, updates changed
 * ones, leaves unchanged ones alone. Safe to run from several processes at once. Schedules that
 * code created and whose job is gone are reported, and deleted only when `pruneOrphans` is set.
 */
export async function reconcileSchedules(opts: {
  client: Client;
  registry: JobRegistry;
  taskQueue: string;
  logger: Logger;
  pruneOrphans: boolean;
}): Promise<ReconcileReport> {
  const { client, registry, taskQueue, logger } = opts;
  const report: ReconcileReport = { created: [], updated: [], unchanged: [], orphans: [], deleted: [], conflicts: [] };
  for (const job of registry.jobs) {
    const result = await reconcileOne(client, toSchedule(job, taskQueue, 'code'), logger);
    report[result].push(job.spec.id);
  }
  const wanted = new Set(registry.jobs.map((j) => j.spec.id));
  for await (const summary of client.schedule.list()) {
    const memo = readMemo(summary);
    if (memo?.origin !== 'code' || memo.taskQueue !== taskQueue || wanted.has(summary.scheduleId)) continue;
    report.orphans.push(summary.scheduleId);
    if (opts.pruneOrphans) {
      try {
        await client.schedule.getHandle(summary.scheduleId).delete();
        report.deleted.push(summary.scheduleId);
        logger.info({ job: summary.scheduleId }, 'orphaned code schedule deleted');
      } catch (err) {
        if (!(err instanceof ScheduleNotFoundError)) throw err;
      }
    } else {
      logger.warn({ job: summary.scheduleId }, 'schedule created from code has no job definition any more (set SUNDIAL_PRUNE_ORPHANS=true to delete it)');
    }
  }
  return report;
}
