import { randomUUID } from 'node:crypto';
import { ScheduleAlreadyRunning, ScheduleNotFoundError, WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy, type Client, type ScheduleDescription } from '@temporalio/client';
import { checkTask, type JobRegistry } from '../jobs/registry';
import { planRun } from '../jobs/plan';
import { parseJobSpec, type JobSpec, type JobSpecInput, type OverlapPolicy } from '../jobs/spec';
import { applyMergePatch } from '../util/merge-patch';
import { updateScheduleIfUnchanged } from './compare-and-set';
import { CodeJobConflictError, InvalidJobSpecError, InvalidRequestError, JobExistsError, JobNotFoundError, StaleVersionError } from './errors';
import { dstWarnings } from './dst';
import { OVERLAP_TO_TEMPORAL, readMemo, toSchedule, toScheduleUpdate, type JobOrigin } from './mapping';
import { SundialJobId, SundialStatus } from '../temporal/search-attributes';

/** A job as the API shows it. */
export interface JobView {
  readonly id: string;
  readonly spec: JobSpecInput;
  readonly origin: JobOrigin;
  readonly state: { readonly paused: boolean; readonly note: string | null };
  readonly nextRunTimes: string[];
  readonly recentRuns: Array<{ workflowId: string; runId: string; scheduledAt: string; startedAt: string }>;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly webUrl: string;
  readonly warnings: string[];
  /** Opaque version for ETag / If-Match: the schedule's conflict token. */
  readonly version: string;
}


/** A schedule's own counters and state, for metrics. */
export interface ScheduleStats {
  readonly jobId: string;
  readonly paused: boolean;
  /** Ticks missed because they fell outside the catch-up window, since the schedule was created. */
  readonly missed: number;
  /** Ticks the overlap policy skipped, since the schedule was created. */
  readonly skippedOverlap: number;
  /** The gap between the next two fire times in ms; undefined when fewer than two are known. */
  readonly expectedIntervalMs: number | undefined;
}

/** How many schedules are described at once when reading every schedule's stats. */
const DESCRIBE_CONCURRENCY = 8;

/** The longest backfill range accepted, in ms: a bound on how many runs one request can start. */
export const MAX_BACKFILL_MS = 31 * 24 * 3600_000;

export interface JobStoreDeps {
  readonly client: Client;
  readonly registry: JobRegistry;
  readonly taskQueue: string;
  /** Base URL of the Temporal Web UI, for deep links. */
  readonly webUiUrl: string;
}

/** gRPC's FAILED_PRECONDITION: what UpdateSchedule answers to a stale conflict token. */
const FAILED_PRECONDITION = 9;

function isFailedPrecondition(err: unknown): boolean {
  return (err as { code?: unknown }).code === FAILED_PRECONDITION;
}

/** Sundial's jobs as Temporal schedules: create, read, change, pause, trigger, backfill, delete. */
export class JobStore {
  constructor(private readonly deps: JobStoreDeps) {}

  private handle(id: string) {
    return this.deps.client.schedule.getHandle(id);
  }

  private async describe(id: string): Promise<ScheduleDescription> {
    try {
      return await this.handle(id).describe();
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) throw new JobNotFoundError(id);
      throw err;
    }
  }

  private validate(input: unknown): JobSpec {
    const parsed = parseJobSpec(input);
    if (!parsed.ok) {
      // Name an unknown job type too, even when other fields failed first.
      const type = (input as { task?: { type?: unknown } } | undefined)?.task?.type;
      const unknownType =
        typeof type === 'string' && type !== 'http' && type !== '' && this.deps.registry.codeFor(type) === undefined && !parsed.problems.some((p) => p.path === 'task.type');
      throw new InvalidJobSpecError(unknownType ? [...parsed.problems, { path: 'task.type', message: `no job type ${JSON.stringify(type)} is defined in code (see GET /api/v1/job-types)` }] : parsed.problems);
    }
    const problems = checkTask(parsed.spec, (n) => this.deps.registry.codeFor(n));
    if (problems.length > 0) throw new InvalidJobSpecError(problems);
    return parsed.spec;
  }

  private plan(written: JobSpecInput, spec: JobSpec, origin: JobOrigin, revision?: string) {
    return toSchedule({ written, spec, run: planRun(spec, (n) => this.deps.registry.codeFor(n)) }, this.deps.taskQueue, origin, revision);
  }

  webUrlForJob(id: string): string {
    const ns = encodeURIComponent(this.deps.client.options.namespace);
    return `${this.deps.webUiUrl}/namespaces/${ns}/schedules/${encodeURIComponent(id)}`;
  }

  toView(desc: ScheduleDescription): JobView {
    const memo = readMemo(desc.action) ?? readMemo(desc);
    const token = desc.raw.conflictToken;
    return {
      id: desc.scheduleId,
      spec: memo?.spec ?? ({ id: desc.scheduleId } as JobSpecInput),
      origin: memo?.origin ?? 'api',
      state: { paused: desc.state.paused, note: desc.state.note ?? null },
      nextRunTimes: desc.info.nextActionTimes.slice(0, 5).map((d) => d.toISOString()),
      recentRuns: desc.info.recentActions.slice(-5).reverse().map((a) => ({
        workflowId: a.action.workflow.workflowId,
        runId: a.action.workflow.firstExecutionRunId,
        scheduledAt: a.scheduledAt.toISOString(),
        startedAt: a.takenAt.toISOString(),
      })),
      createdAt: desc.info.createdAt.toISOString(),
      updatedAt: (desc.info.lastUpdatedAt ?? desc.info.createdAt).toISOString(),
      webUrl: this.webUrlForJob(desc.scheduleId),
      warnings: warningsFor(memo?.spec),
      version: token === undefined || token === null ? '' : Buffer.from(token).toString('base64url'),
    };
  }

  async get(id: string): Promise<JobView> {
    return this.toView(await this.describe(id));
  }

  /** @throws InvalidJobSpecError, JobExistsError */
  async create(input: unknown): Promise<JobView> {
    const spec = this.validate(input);
    const desired = this.plan(input as JobSpecInput, spec, 'api');
    try {
      await this.deps.client.schedule.create(desired.options);
    } catch (err) {
      if (err instanceof ScheduleAlreadyRunning) throw new JobExistsError(spec.id);
      throw err;
    }
    return this.get(spec.id);
  }

  /**
   * Applies a JSON merge patch to the job's spec as written. With `ifMatch`, only if the job is
   * still at that version (compare-and-set on the schedule's conflict token).
   * @throws JobNotFoundError, CodeJobConflictError, InvalidJobSpecError, StaleVersionError
   */
  async patch(id: string, patch: unknown, opts: { ifMatch?: string; force?: boolean }): Promise<JobView> {
    const desc = await this.describe(id);
    const current = this.toView(desc);
    if (opts.ifMatch !== undefined && opts.ifMatch !== current.version) throw new StaleVersionError(id);
    if (current.origin === 'code' && opts.force !== true) throw new CodeJobConflictError(id);
    const written = applyMergePatch(current.spec, patch) as JobSpecInput;
    if (written.id !== id) throw new InvalidJobSpecError([{ path: 'id', message: 'cannot be changed' }]);
    const spec = this.validate(written);
    const revision = randomUUID();
    const desired = this.plan(written, spec, current.origin, revision);
    const update = toScheduleUpdate(desired, { paused: desc.state.paused, note: desc.state.note });
    try {
      await updateScheduleIfUnchanged(this.deps.client, id, update, desc.raw.conflictToken ?? new Uint8Array());
    } catch (err) {
      if (isFailedPrecondition(err)) throw new StaleVersionError(id);
      throw err;
    }
    // The server applies updates asynchronously and silently drops one whose token went stale;
    // reading our revision back is how we learn that we lost the race.
    const after = await this.describe(id);
    if (readMemo(after.action)?.revision !== revision) throw new StaleVersionError(id);
    return this.toView(after);
  }

  async delete(id: string): Promise<void> {
    try {
      await this.handle(id).delete();
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) throw new JobNotFoundError(id);
      throw err;
    }
  }

  async pause(id: string, note: string | undefined): Promise<JobView> {
    await this.describe(id);
    await this.handle(id).pause(note ?? 'paused over the API');
    return this.get(id);
  }

  async unpause(id: string, note: string | undefined): Promise<JobView> {
    await this.describe(id);
    await this.handle(id).unpause(note ?? 'unpaused over the API');
    return this.get(id);
  }

  /**
   * Starts a run now, through the schedule (so it is listed with the schedule's runs).
   * Default overlap `allow_all`: a trigger runs even while another run is going.
   * @returns the workflow id of the started run, or undefined when Temporal dropped it (a
   *   second trigger in the same second has the same workflow id as the first).
   */
  async trigger(id: string, overlap: OverlapPolicy = 'allow_all'): Promise<string | undefined> {
    const before = await this.describe(id);
    const seen = new Set(before.info.recentActions.map((a) => a.action.workflow.workflowId));
    for (const a of before.info.runningActions) seen.add(a.workflow.workflowId);
    await this.handle(id).trigger(OVERLAP_TO_TEMPORAL[overlap]);
    for (let i = 0; i < 20; i++) {
      const after = await this.describe(id);
      const fresh = [...after.info.runningActions.map((a) => a.workflow.workflowId), ...after.info.recentActions.map((a) => a.action.workflow.workflowId)].find(
        (wf) => !seen.has(wf),
      );
      if (fresh !== undefined) return fresh;
      await new Promise((r) => setTimeout(r, 100));
    }
    return undefined;
  }

  /**
   * Starts a run now, once per idempotency key: the run's workflow id is
   * `<jobId>-trigger-<key>`, started directly with the schedule's action (same workflow, task
   * queue, input and memo) and refused by Temporal while one with that id exists or is retained.
   * So a trigger sent again after a lost answer (an API replica died mid-request) finds the first
   * run instead of starting a second one. Not subject to the schedule's overlap policy: use the
   * keyless trigger for that.
   * @returns the run's workflow id, and whether an earlier request with this key had started it.
   * @throws JobNotFoundError
   */
  async triggerOnce(id: string, key: string): Promise<{ workflowId: string; replayed: boolean }> {
    const desc = await this.describe(id);
    const action = desc.action;
    const workflowId = `${id}-trigger-${key}`;
    try {
      await this.deps.client.workflow.start(action.workflowType, {
        workflowId,
        taskQueue: action.taskQueue,
        args: action.args,
        ...(action.memo === undefined ? {} : { memo: action.memo }),
        typedSearchAttributes: [
          { key: SundialJobId, value: id },
          { key: SundialStatus, value: 'running' },
        ],
        // Closed runs keep their id for the namespace's retention: a late retry is refused too.
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      });
      return { workflowId, replayed: false };
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return { workflowId, replayed: true };
      throw err;
    }
  }

  /** Runs the ticks between start and end that were missed. @throws InvalidRequestError */
  async backfill(id: string, start: Date, end: Date, overlap: OverlapPolicy = 'allow_all'): Promise<void> {
    const problems = [];
    if (end.getTime() <= start.getTime()) problems.push({ path: 'end', message: 'must be after start' });
    if (end.getTime() - start.getTime() > MAX_BACKFILL_MS) problems.push({ path: 'end', message: `the range may be at most ${MAX_BACKFILL_MS / 86_400_000} days` });
    if (problems.length > 0) throw new InvalidRequestError(problems);
    await this.describe(id);
    await this.handle(id).backfill({ start, end, overlap: OVERLAP_TO_TEMPORAL[overlap] });
  }

  /** One page of jobs, in the server's order. */
  async list(pageSize: number, pageToken: string | undefined): Promise<{ items: JobView[]; nextPageToken: string | null }> {
    const res = await this.deps.client.workflowService.listSchedules({
      namespace: this.deps.client.options.namespace,
      maximumPageSize: pageSize,
      ...(pageToken === undefined ? {} : { nextPageToken: Buffer.from(pageToken, 'base64url') }),
    });
    // Described in parallel: a page is at most 100 schedules.
    const views = await Promise.all(
      (res.schedules ?? []).map(async (entry) => {
        if (!entry.scheduleId) return undefined;
        try {
          return await this.get(entry.scheduleId);
        } catch (err) {
          if (err instanceof JobNotFoundError) return undefined; // deleted between list and describe
          throw err;
        }
      }),
    );
    const items = views.filter((v): v is JobView => v !== undefined && readMemoPresent(v));
    const token = res.nextPageToken;
    return { items, nextPageToken: token && token.length > 0 ? Buffer.from(token).toString('base64url') : null };
  }

  /** Every job's schedule counters (all pages); schedules not made by Sundial are left out. */
  async stats(): Promise<ScheduleStats[]> {
    const ids: string[] = [];
    for await (const summary of this.deps.client.schedule.list({ pageSize: 500 })) {
      if (readMemo(summary) !== undefined) ids.push(summary.scheduleId);
    }
    const stats: ScheduleStats[] = [];
    for (let i = 0; i < ids.length; i += DESCRIBE_CONCURRENCY) {
      const batch = await Promise.all(
        ids.slice(i, i + DESCRIBE_CONCURRENCY).map(async (id) => {
          try {
            return await this.handle(id).describe();
          } catch (err) {
            if (err instanceof ScheduleNotFoundError) return undefined; // deleted meanwhile
            throw err;
          }
        }),
      );
      for (const desc of batch) {
        if (desc === undefined) continue;
        const [next, after] = desc.info.nextActionTimes;
        stats.push({
          jobId: desc.scheduleId,
          paused: desc.state.paused,
          missed: desc.info.numActionsMissedCatchupWindow,
          skippedOverlap: desc.info.numActionsSkippedOverlap,
          expectedIntervalMs: next !== undefined && after !== undefined ? after.getTime() - next.getTime() : undefined,
        });
      }
    }
    return stats;
  }
}

/** Schedules not made by Sundial (no memo) are not jobs. */
function readMemoPresent(view: JobView): boolean {
  return typeof view.spec.schedule === 'object';
}

/** DST warnings for a spec as written; none when it no longer validates (e.g. an old memo). */
function warningsFor(written: JobSpecInput | undefined): string[] {
  if (written === undefined) return [];
  const parsed = parseJobSpec(written);
  return parsed.ok ? dstWarnings(parsed.spec) : [];
}
