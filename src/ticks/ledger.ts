import type { Client } from '@temporalio/client';
import { msToTs, optionalTsToDate, tsToMs } from '@temporalio/common/lib/time';
import type { OverlapPolicy } from '../jobs/spec';
import type { RunStore, RunView } from '../runs/run-store';
import { InvalidRequestError } from '../schedules/errors';
import type { JobStore } from '../schedules/job-store';
import { OVERLAP_TO_TEMPORAL, readMemo } from '../schedules/mapping';
import { openPageToken, sealPageToken } from '../temporal/page-token';
import { classifyTicks, START_GRACE_MS, type LedgerRun, type Tick } from './classify';

/** The widest window one request may ask about, in ms: 31 days, like a backfill. */
export const MAX_TICK_WINDOW_MS = 31 * 86_400_000;

/** Runs read per page of ticks and per question (the tick's own, those in the way), at most. */
const RUN_LIMIT = 2_000;

export interface TickPage {
  readonly items: Tick[];
  readonly nextPageToken: string | null;
}

const TEMPORAL_TO_OVERLAP = new Map(
  Object.entries(OVERLAP_TO_TEMPORAL).map(([k, v]) => [v as string, k as OverlapPolicy]),
);

/**
 * The tick ledger: every time a job was due in a window, from the schedule's own matching times
 * (ListScheduleMatchingTimes, so the job's current spec, its time zone and DST rules, start and
 * end), joined with the job's runs, the paused periods Sundial recorded and its policies, to say
 * what became of each (see {@link classifyTicks}).
 */
export class TickLedger {
  /** The namespace's retention (ms) and when it was read: it changes rarely, and is read once an hour. */
  private retention: { ms: number | undefined; readAt: number } | undefined;

  constructor(private readonly deps: { client: Client; jobs: JobStore; runs: RunStore; now?: () => Date }) {}

  private async retentionMs(): Promise<number | undefined> {
    if (this.retention !== undefined && Date.now() - this.retention.readAt < 3_600_000) return this.retention.ms;
    const { client } = this.deps;
    const ns = await client.workflowService.describeNamespace({ namespace: client.options.namespace });
    const ttl = ns.config?.workflowExecutionRetentionTtl;
    const ms = ttl === null || ttl === undefined ? undefined : tsToMs(ttl);
    this.retention = { ms: ms === 0 ? undefined : ms, readAt: Date.now() };
    return this.retention.ms;
  }

  /**
   * One page of a job's ticks in [from, to), oldest first.
   * @throws JobNotFoundError, InvalidRequestError (window, page token)
   */
  async list(
    jobId: string,
    opts: { from: Date; to: Date; pageSize: number; pageToken?: string | undefined },
  ): Promise<TickPage> {
    const { from, to } = opts;
    const problems = [];
    if (to.getTime() <= from.getTime()) problems.push({ path: 'query.to', message: 'must be after from' });
    else if (to.getTime() - from.getTime() > MAX_TICK_WINDOW_MS)
      problems.push({ path: 'query.to', message: `the window may be at most ${MAX_TICK_WINDOW_MS / 86_400_000} days` });
    const tokenQuery = `${jobId}\0${from.toISOString()}\0${to.toISOString()}`;
    let after = new Date(from.getTime() - 1); // matching times are those after a time
    if (opts.pageToken !== undefined) {
      const raw = openPageToken(opts.pageToken, tokenQuery);
      const last = raw === undefined ? Number.NaN : Date.parse(Buffer.from(raw).toString());
      if (Number.isNaN(last))
        problems.push({ path: 'query.pageToken', message: 'is not a page token of this ledger with this window' });
      else after = new Date(last);
    }
    if (problems.length > 0) throw new InvalidRequestError(problems);

    const desc = await this.deps.jobs.schedule(jobId);
    const now = this.deps.now?.() ?? new Date();
    const { client } = this.deps;
    const res = await client.workflowService.listScheduleMatchingTimes({
      namespace: client.options.namespace,
      scheduleId: jobId,
      startTime: msToTs(after.getTime()),
      endTime: msToTs(to.getTime() - 1),
    });
    const all = (res.startTime ?? [])
      .map((ts) => optionalTsToDate(ts)!)
      .filter((d) => d.getTime() >= from.getTime() && d.getTime() < to.getTime());
    const ticks = all.slice(0, opts.pageSize);
    // The server gives at most 1,000 times per call; a page is at most 500, so one more says there is more.
    const last = ticks[ticks.length - 1];
    const nextPageToken =
      all.length > opts.pageSize && last !== undefined
        ? sealPageToken(Buffer.from(last.toISOString()), tokenQuery)
        : null;

    const overlap = TEMPORAL_TO_OVERLAP.get(desc.policies.overlap ?? '') ?? 'skip';
    const jitterMs = desc.spec.jitter ?? 0;
    const past = ticks.filter((t) => t.getTime() <= now.getTime());
    let runs: RunView[] = [];
    if (past.length > 0) {
      const first = past[0]!;
      const end = past[past.length - 1]!;
      const own = this.deps.runs.scheduledBetween(jobId, new Date(first.getTime() - jitterMs), end, RUN_LIMIT);
      // Only a policy that holds a tick back for a run in its way needs the runs around the ticks.
      const inTheWay =
        overlap === 'skip' || overlap === 'buffer_one' || overlap === 'buffer_all'
          ? this.deps.runs.openBetween(jobId, first, end, RUN_LIMIT)
          : Promise.resolve([]);
      const [a, b] = await Promise.all([own, inTheWay]);
      const seen = new Set<string>();
      runs = [...a, ...b].filter((r) => !seen.has(r.runId) && (seen.add(r.runId), true));
    }
    const actions = desc.info.recentActions.map((a) => a.scheduledAt.getTime());
    const startedIds = [
      ...desc.info.recentActions.map((a) => a.action.workflow.workflowId),
      ...desc.info.runningActions.map((a) => a.workflow.workflowId),
    ];
    const retentionMs =
      past.length > 0 && now.getTime() - past[0]!.getTime() > 86_400_000 ? await this.retentionMs() : undefined;
    const items = classifyTicks({
      retentionMs,
      ticks,
      now,
      createdAt: desc.info.createdAt,
      overlap,
      catchupWindowMs: desc.policies.catchupWindow,
      jitterMs,
      pausedNow: desc.state.paused,
      note: desc.state.note ? desc.state.note : null,
      pauses: readMemo(desc.action)?.pauses ?? [],
      runs: runs.map((r) => toLedgerRun(jobId, r)).filter((r): r is LedgerRun => r !== undefined),
      lastActionAt: actions.length === 0 ? undefined : new Date(Math.max(...actions)),
      startGraceMs: START_GRACE_MS,
      jobId,
      startedIds,
    });
    return { items, nextPageToken };
  }
}

/** `<jobId>-<RFC3339 second>`: the id Temporal gives a run the schedule started. */
const SCHEDULED_SUFFIX = /^-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

/**
 * A run as the ledger reads it; undefined for runs the schedule did not start (keyed triggers,
 * `<jobId>:trigger:<key>`, start directly: the schedule neither counts them nor waits for them).
 */
function toLedgerRun(jobId: string, r: RunView): LedgerRun | undefined {
  if (!r.workflowId.startsWith(jobId) || !SCHEDULED_SUFFIX.test(r.workflowId.slice(jobId.length))) return undefined;
  return {
    workflowId: r.workflowId,
    runId: r.runId,
    status: r.status,
    webUrl: r.webUrl,
    scheduledAt: new Date(r.scheduledAt),
    startedAt: new Date(r.startedAt),
    closedAt: r.closedAt === null ? null : new Date(r.closedAt),
    lagMs: r.lagMs,
  };
}
