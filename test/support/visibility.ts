import type { Client } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { SundialStatus } from '../../src/temporal/search-attributes';
import { waitFor } from './temporal';

const TemporalScheduledStartTime = defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME);

/** One run (workflow execution) of a job, as Temporal's visibility lists it. */
export interface ListedRun {
  readonly workflowId: string;
  readonly runId: string;
  /** Temporal's execution status: `COMPLETED`, `FAILED`, `RUNNING`, ... */
  readonly status: string;
  /** Sundial's run status search attribute: `succeeded`, `failed`, ... */
  readonly sundialStatus: string | undefined;
  /** The schedule's tick (epoch ms), or undefined for a run not started by the schedule. */
  readonly scheduledAt: number | undefined;
  readonly startedAt: number;
  readonly closedAt: number | undefined;
}

/** Every execution of the job's runs, each workflow id's every run id included. */
export async function listRuns(client: Client, jobId: string): Promise<ListedRun[]> {
  const runs: ListedRun[] = [];
  for await (const wf of client.workflow.list({ query: `SundialJobId = "${jobId}"` })) {
    const scheduled = wf.typedSearchAttributes.get(TemporalScheduledStartTime);
    runs.push({
      workflowId: wf.workflowId,
      runId: wf.runId,
      status: wf.status.name,
      sundialStatus: wf.typedSearchAttributes.get(SundialStatus),
      scheduledAt: scheduled === undefined ? undefined : new Date(scheduled).getTime(),
      startedAt: wf.startTime.getTime(),
      closedAt: wf.closeTime?.getTime(),
    });
  }
  return runs;
}

/** Waits (bounded) until none of the jobs' runs is still running. @throws after timeoutMs */
export async function waitForRunsToDrain(
  client: Client,
  jobIds: readonly string[],
  timeoutMs: number,
): Promise<number> {
  const started = Date.now();
  const query = `(${jobIds.map((id) => `SundialJobId = "${id}"`).join(' OR ')}) AND ExecutionStatus = "Running"`;
  await waitFor(
    `the runs of ${jobIds.join(', ')} to finish`,
    timeoutMs,
    async () => ((await client.workflow.count(query)).count === 0 ? true : undefined),
    1_000,
  );
  return Date.now() - started;
}

/** The whole seconds (epoch ms) in (fromMs, toMs]: the ticks a one-second schedule is due. */
export function secondsBetween(fromMs: number, toMs: number): number[] {
  const out: number[] = [];
  for (let t = Math.floor(fromMs / 1000) * 1000 + 1000; t <= toMs; t += 1000) out.push(t);
  return out;
}

/** What a set of one-second schedules' runs say about the ticks due in a window. */
export interface TickReport {
  /** `job@tick` with no run. */
  readonly missing: string[];
  /** `job@tick` with more than one run. */
  readonly doubled: string[];
  /** Runs that did not end COMPLETED / succeeded (`workflowId: status/sundialStatus`). */
  readonly notSucceeded: string[];
}

/** Checks that each due tick of each job has exactly one run and that every run succeeded. */
export function checkTicks(runs: readonly ListedRun[], jobIds: readonly string[], due: readonly number[]): TickReport {
  const missing: string[] = [];
  const doubled: string[] = [];
  for (const id of jobIds) {
    const mine = runs.filter((r) => r.workflowId.startsWith(`${id}-`));
    for (const tick of due) {
      const ofTick = mine.filter((r) => r.scheduledAt === tick);
      const name = `${id}@${new Date(tick).toISOString()}`;
      if (ofTick.length === 0) missing.push(name);
      if (ofTick.length > 1) doubled.push(`${name}: ${ofTick.map((r) => `${r.workflowId}/${r.runId}`).join(', ')}`);
    }
  }
  const notSucceeded = runs
    .filter((r) => r.status !== 'COMPLETED' || r.sundialStatus !== 'succeeded')
    .map((r) => `${r.workflowId}: ${r.status}/${r.sundialStatus}`);
  return { missing, doubled, notSucceeded };
}

/**
 * `checkTicks` for one-second schedules, each from its own creation (schedules are created one
 * after another) to `untilMs`; also counts the ticks due.
 */
export async function checkScheduleWindow(
  client: Client,
  runs: readonly ListedRun[],
  jobIds: readonly string[],
  untilMs: number,
): Promise<TickReport & { due: number; openedAt: number }> {
  const created = await Promise.all(
    jobIds.map(async (id) => (await client.schedule.getHandle(id).describe()).info.createdAt.getTime()),
  );
  const reports = jobIds.map((id, i) => ({
    report: checkTicks(runs, [id], secondsBetween(created[i]!, untilMs)),
    due: secondsBetween(created[i]!, untilMs).length,
  }));
  return {
    missing: reports.flatMap((r) => r.report.missing),
    doubled: reports.flatMap((r) => r.report.doubled),
    notSucceeded: checkTicks(runs, [], []).notSucceeded,
    due: reports.reduce((n, r) => n + r.due, 0),
    openedAt: Math.min(...created),
  };
}
