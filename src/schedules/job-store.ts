import { createHash, randomUUID } from 'node:crypto';
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  type Client,
  type ScheduleDescription,
  type ScheduleExecutionResult,
} from '@temporalio/client';
import type { EgressPolicy } from '../egress/policy';
import { breakerConflictWith, checkTask, type JobRegistry } from '../jobs/registry';
import { planRun } from '../jobs/plan';
import {
  isHttpTask,
  parseJobSpec,
  type FieldProblem,
  type JobSpec,
  type JobSpecInput,
  type OverlapPolicy,
} from '../jobs/spec';
import { TRIGGER_MEMO_KEY, type JobRunInput, type TriggerInfo } from '../jobs/run-types';
import { redactHeaderValues } from '../secrets/redact';
import { applyMergePatch } from '../util/merge-patch';
import { createSchedule, updateScheduleIfUnchanged, updateStateAndActionMemo } from './compare-and-set';
import { listSchedulePage, RevisionCache, scheduleListQuery, type JobListFilter, type ListedSchedule } from './listing';
import { openPageToken, sealPageToken } from '../temporal/page-token';
import { mapWithConcurrency } from '../util/concurrency';
import {
  CodeJobConflictError,
  IdempotencyKeyReusedError,
  InvalidJobSpecError,
  InvalidRequestError,
  JobExistsError,
  JobNotFoundError,
  StaleVersionError,
} from './errors';
import { dstWarnings } from './dst';
import { triggerDelayMs } from './trigger-timing';
import {
  CREATED_MEMO_KEY,
  MEMO_KEY,
  newWriteStamp,
  OVERLAP_TO_TEMPORAL,
  readMemo,
  recordPauseChange,
  stableJson,
  toSchedule,
  toScheduleUpdate,
  withInitialPause,
  withPauses,
  type CreatedRecord,
  type JobOrigin,
  type WriteStamp,
} from './mapping';
import { SundialBreakerKey, SundialJobId, SundialStatus } from '../temporal/search-attributes';

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

/** A job as the job list shows it: a listing has no conflict token, so no version. */
export type JobListItem = Omit<JobView, 'version'>;

/** How many other jobs on one breaker key a write compares with (they all agree, so any few will do). */
const BREAKER_PEERS_CHECKED = 20;

/** How many schedules are described at once (list entries this process cannot answer). */
const DESCRIBE_CONCURRENCY = 8;

/** The longest backfill range accepted, in ms: a bound on how many runs one request can start. */
export const MAX_BACKFILL_MS = 31 * 24 * 3600_000;

export interface JobStoreDeps {
  readonly client: Client;
  readonly registry: JobRegistry;
  readonly taskQueue: string;
  /** Base URL of the Temporal Web UI, for deep links. */
  readonly webUiUrl: string;
  /**
   * Writes of HTTP jobs whose URL is a literal address this policy refuses are invalid. Unset:
   * not checked here (the API always sets it; workers check every connection anyway).
   */
  readonly egress?: EgressPolicy;
}

/** How many times a pause or unpause is tried against a schedule that keeps changing. */
const PAUSE_WRITE_ATTEMPTS = 3;

/** gRPC's FAILED_PRECONDITION: what UpdateSchedule answers to a stale conflict token. */
const FAILED_PRECONDITION = 9;

function isFailedPrecondition(err: unknown): boolean {
  return (err as { code?: unknown }).code === FAILED_PRECONDITION;
}

/** Sundial's jobs as Temporal schedules: create, read, change, pause, trigger, backfill, delete. */
export class JobStore {
  /** The written part of jobs by revision, for listings (see {@link list}). */
  private readonly written = new RevisionCache<WrittenPart>();

  constructor(private readonly deps: JobStoreDeps) {}

  private handle(id: string) {
    return this.deps.client.schedule.getHandle(id);
  }

  /**
   * A job's schedule. A schedule without Sundial's memo was not made by Sundial (another
   * application's, in the same namespace): it is not a job, and no route may read or change it.
   * @throws JobNotFoundError
   */
  private async describe(id: string): Promise<ScheduleDescription> {
    let desc: ScheduleDescription;
    try {
      desc = await this.handle(id).describe();
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) throw new JobNotFoundError(id);
      throw err;
    }
    if (readMemo(desc.action) === undefined && readMemo(desc) === undefined) throw new JobNotFoundError(id);
    return desc;
  }

  /**
   * The run a spec plans, with the registry's code and notification defaults: the one place a
   * write, a peer check and a trigger with overrides all plan from.
   */
  private planFor(spec: JobSpec): JobRunInput {
    return planRun(spec, (n) => this.deps.registry.codeFor(n), this.deps.registry.notifyDefaults);
  }

  /** The spec, validated, and the run it plans. @throws InvalidJobSpecError */
  private validate(input: unknown): { spec: JobSpec; run: JobRunInput } {
    const parsed = parseJobSpec(input);
    if (!parsed.ok) {
      // Name an unknown job type too, even when other fields failed first.
      const type = (input as { task?: { type?: unknown } } | undefined)?.task?.type;
      const unknownType =
        typeof type === 'string' &&
        type !== 'http' &&
        type !== '' &&
        this.deps.registry.codeFor(type) === undefined &&
        !parsed.problems.some((p) => p.path === 'task.type');
      throw new InvalidJobSpecError(
        unknownType
          ? [
              ...parsed.problems,
              {
                path: 'task.type',
                message: `no job type ${JSON.stringify(type)} is defined in code (see GET /api/v1/job-types)`,
              },
            ]
          : parsed.problems,
      );
    }
    const problems = checkTask(parsed.spec, (n) => this.deps.registry.codeFor(n), this.deps.egress);
    if (problems.length > 0) throw new InvalidJobSpecError(problems);
    const run = this.planFor(parsed.spec);
    const conflict = this.deps.registry.breakerConflictFor(run);
    if (conflict !== undefined) throw new InvalidJobSpecError([conflict]);
    return { spec: parsed.spec, run };
  }

  /**
   * The other jobs on the spec's breaker key, found by their schedules' SundialBreakerKey (a
   * visibility query: a job written in the last second may not be seen yet), must declare the
   * same thresholds. Only jobs sharing the key are described.
   * @throws InvalidJobSpecError naming the other job
   */
  private async checkBreakerPeers({ spec, run }: { spec: JobSpec; run: JobRunInput }): Promise<void> {
    if (run.breaker === undefined) return;
    const { schedules } = await listSchedulePage(this.deps.client, {
      pageSize: BREAKER_PEERS_CHECKED,
      query: `${SundialBreakerKey.name} = ${JSON.stringify(run.breaker.key)}`,
    });
    for (const peer of schedules) {
      if (peer.scheduleId === spec.id) continue;
      const desc = await this.handle(peer.scheduleId)
        .describe()
        .catch(() => undefined);
      const theirs =
        desc?.action.type === 'startWorkflow' ? (desc.action.args?.[0] as JobRunInput | undefined) : undefined;
      const problem = theirs === undefined ? undefined : breakerConflictWith(run, theirs);
      if (problem !== undefined) throw new InvalidJobSpecError([problem]);
    }
  }

  private plan(
    written: JobSpecInput,
    planned: { spec: JobSpec; run: JobRunInput },
    origin: JobOrigin,
    stamp: WriteStamp,
  ) {
    return toSchedule({ written, ...planned }, this.deps.taskQueue, origin, stamp);
  }

  webUrlForJob(id: string): string {
    const ns = encodeURIComponent(this.deps.client.options.namespace);
    return `${this.deps.webUiUrl}/namespaces/${ns}/schedules/${encodeURIComponent(id)}`;
  }

  /** The exact view of a described schedule. */
  toView(desc: ScheduleDescription): JobView {
    const token = desc.raw.conflictToken;
    return {
      ...this.assemble(desc.scheduleId, writtenPart(desc), {
        paused: desc.state.paused,
        // Temporal gives "" for no note after an update, and the listing nothing: both are null.
        note: desc.state.note ? desc.state.note : null,
        nextActionTimes: desc.info.nextActionTimes,
        recentActions: desc.info.recentActions,
      }),
      version: token === undefined || token === null ? '' : Buffer.from(token).toString('base64url'),
    };
  }

  private assemble(id: string, written: WrittenPart, live: LivePart): JobListItem {
    return {
      id,
      spec: written.spec,
      origin: written.origin,
      state: { paused: live.paused, note: live.note },
      nextRunTimes: live.nextActionTimes.slice(0, 5).map((d) => d.toISOString()),
      recentRuns: live.recentActions
        .slice(-5)
        .reverse()
        .map((a) => ({
          workflowId: a.action.workflow.workflowId,
          runId: a.action.workflow.firstExecutionRunId,
          scheduledAt: a.scheduledAt.toISOString(),
          startedAt: a.takenAt.toISOString(),
        })),
      createdAt: written.createdAt,
      updatedAt: written.updatedAt,
      webUrl: this.webUrlForJob(id),
      warnings: written.warnings,
    };
  }

  /** Keeps what a described schedule's current revision says, for listings that name it. */
  private remember(desc: ScheduleDescription): void {
    const revision = readMemo(desc.action)?.revision;
    if (revision !== undefined) this.written.set(desc.scheduleId, revision, writtenPart(desc));
  }

  /**
   * The written part of a listed job without asking Temporal, when the listing says which
   * revision is current: the schedule's own memo when that is it (never updated), else what
   * this process learned about that revision. Undefined: describe it.
   */
  private writtenFromListing(s: ListedSchedule): WrittenPart | undefined {
    const memo = s.createdMemo;
    if (s.revision === undefined || memo === undefined) return undefined;
    const known = this.written.get(s.scheduleId, s.revision);
    if (known !== undefined) return known;
    if (s.revision !== memo.revision || memo.writtenAt === undefined) return undefined;
    // Kept too: the DST warnings parse the spec, which costs more than the rest of the item.
    const written = {
      spec: memo.spec,
      origin: memo.origin,
      createdAt: memo.writtenAt,
      updatedAt: memo.writtenAt,
      warnings: warningsFor(memo.spec),
    };
    this.written.set(s.scheduleId, s.revision, written);
    return written;
  }

  /**
   * Who created the job over the API and the spec as written then (its schedule's own memo,
   * written once at creation); undefined for a job created from code or by an older Sundial.
   * @throws JobNotFoundError
   */
  async created(id: string): Promise<{ record: CreatedRecord; spec: unknown } | undefined> {
    const desc = await this.describe(id);
    const record = desc.memo?.[CREATED_MEMO_KEY] as CreatedRecord | undefined;
    const spec = readMemo(desc)?.spec;
    return record === undefined || spec === undefined ? undefined : { record, spec };
  }

  async get(id: string): Promise<JobView> {
    return this.toView(await this.describe(id));
  }

  /**
   * Creates an API job and answers from what was written, without reading the schedule back:
   * `nextRunTimes` is empty in this answer (Temporal computes them once the schedule runs;
   * GET and the list show them), `recentRuns` is empty, and the version is the conflict token
   * CreateSchedule returned.
   * @throws InvalidJobSpecError, JobExistsError
   */
  async create(input: unknown, created?: CreatedRecord): Promise<JobView> {
    const planned = this.validate(input);
    const { spec } = planned;
    await this.checkBreakerPeers(planned);
    const stamp = newWriteStamp();
    const desired = withInitialPause(this.plan(input as JobSpecInput, planned, 'api', stamp));
    let token: Uint8Array;
    try {
      const options =
        created === undefined
          ? desired.options
          : { ...desired.options, memo: { ...desired.options.memo, [CREATED_MEMO_KEY]: created } };
      token = await createSchedule(this.deps.client, options);
    } catch (err) {
      if (err instanceof ScheduleAlreadyRunning) throw new JobExistsError(spec.id);
      throw err;
    }
    const at = stamp.at.toISOString();
    const written: WrittenPart = {
      spec: desired.memo.spec,
      origin: 'api',
      createdAt: at,
      updatedAt: at,
      warnings: dstWarnings(spec),
    };
    this.written.set(spec.id, desired.memo.revision, written);
    const state = desired.options.state;
    return {
      ...this.assemble(spec.id, written, {
        paused: state?.paused === true,
        note: state?.note ?? null,
        nextActionTimes: [],
        recentActions: [],
      }),
      version: Buffer.from(token).toString('base64url'),
    };
  }

  /**
   * Applies a JSON merge patch to the job's spec as written. With `ifMatch`, only if the job is
   * still at that version (compare-and-set on the schedule's conflict token).
   * @throws JobNotFoundError, CodeJobConflictError, InvalidJobSpecError, StaleVersionError
   */
  async patch(id: string, patch: unknown, opts: { ifMatch?: string; force?: boolean }): Promise<JobView> {
    return (await this.patchDetailed(id, patch, opts)).view;
  }

  /** {@link patch}, also answering the spec as written before the change (for the audit's diff). */
  async patchDetailed(
    id: string,
    patch: unknown,
    opts: { ifMatch?: string; force?: boolean },
  ): Promise<{ view: JobView; previous: JobSpecInput }> {
    const desc = await this.describe(id);
    const current = this.toView(desc);
    if (opts.ifMatch !== undefined && opts.ifMatch !== current.version) throw new StaleVersionError(id);
    if (current.origin === 'code' && opts.force !== true) throw new CodeJobConflictError(id);
    const written = applyMergePatch(current.spec, patch) as JobSpecInput;
    if (written.id !== id) throw new InvalidJobSpecError([{ path: 'id', message: 'cannot be changed' }]);
    const planned = this.validate(written);
    await this.checkBreakerPeers(planned);
    const desired = this.plan(written, planned, current.origin, newWriteStamp());
    const revision = desired.memo.revision;
    // `paused` in a patch is applied to the schedule's state, like POST /pause and /unpause;
    // without it, the state is left as it is (a pause over the API is not undone by an edit).
    const wantPaused = (patch as { paused?: unknown }).paused;
    const state =
      typeof wantPaused !== 'boolean' || wantPaused === desc.state.paused
        ? { paused: desc.state.paused, note: desc.state.note }
        : { paused: wantPaused, note: wantPaused ? 'paused over the API (PATCH)' : 'unpaused over the API (PATCH)' };
    // The paused periods recorded so far stay with the job; a change of `paused` adds to them.
    const pauses =
      state.paused === desc.state.paused
        ? readMemo(desc.action)?.pauses
        : recordPauseChange(readMemo(desc.action)?.pauses, state.paused, new Date(), state.note);
    const update = toScheduleUpdate(withPauses(desired, pauses), state);
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
    this.remember(after);
    return { view: this.toView(after), previous: current.spec };
  }

  async delete(id: string): Promise<void> {
    await this.describe(id);
    this.written.delete(id);
    try {
      await this.handle(id).delete();
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) throw new JobNotFoundError(id);
      throw err;
    }
  }

  async pause(id: string, note: string | undefined): Promise<JobView> {
    return this.toView(await this.setPaused(id, true, note ?? 'paused over the API'));
  }

  async unpause(id: string, note: string | undefined): Promise<JobView> {
    return this.toView(await this.setPaused(id, false, note ?? 'unpaused over the API'));
  }

  /**
   * Pauses or unpauses, recording the paused period in the action memo with the state change (one
   * UpdateSchedule against the described conflict token), so the tick ledger can tell a paused
   * tick from a missed one. A write that lost a race (the server drops it silently) is read back
   * and tried again.
   * @returns the schedule as described after the change.
   * @throws JobNotFoundError, StaleVersionError (lost the race every time)
   */
  private async setPaused(id: string, paused: boolean, note: string): Promise<ScheduleDescription> {
    for (let attempt = 0; attempt < PAUSE_WRITE_ATTEMPTS; attempt++) {
      const desc = await this.describe(id);
      const memo = readMemo(desc.action);
      if (memo === undefined) {
        // A schedule from before Sundial kept its memo on the action: nowhere to record it.
        await (paused ? this.handle(id).pause(note) : this.handle(id).unpause(note));
        return this.describe(id);
      }
      const pauses = recordPauseChange(memo.pauses, paused, new Date(), paused ? note : undefined);
      try {
        await updateStateAndActionMemo(
          this.deps.client,
          desc,
          { paused, note },
          { key: MEMO_KEY, value: { ...memo, pauses } },
        );
      } catch (err) {
        if (isFailedPrecondition(err)) continue;
        throw err;
      }
      const after = await this.describe(id);
      if (
        after.state.paused === paused &&
        JSON.stringify(readMemo(after.action)?.pauses ?? []) === JSON.stringify(pauses)
      )
        return after;
    }
    throw new StaleVersionError(id);
  }

  /**
   * A job's schedule as Temporal describes it, for readers that need more than the job's view
   * (the tick ledger: creation time, policies, paused periods).
   * @throws JobNotFoundError
   */
  async schedule(id: string): Promise<ScheduleDescription> {
    return this.describe(id);
  }

  /**
   * Starts a run now, through the schedule (so it is listed with the schedule's runs and counts
   * for its overlap policy). Default overlap `allow_all`: a trigger runs even while another run is
   * going.
   *
   * Temporal drops a trigger handled in the same second as one of the schedule's actions (both
   * would get one workflow id): a trigger close to an action's second is sent once that second
   * has passed ({@link triggerDelayMs}, at most about 1.7 s).
   *
   * The schedule starts the run on its own time, so this waits for it to appear in the
   * schedule's actions until `waitMs` after the call (that delay included): bounded in time, not
   * in calls, so a slow server ends the wait rather than the caller's deadline.
   * @returns the workflow id of the started run, or undefined when none appeared within
   *   `waitMs` (a slow server, or a second trigger in the same second, which Temporal drops: it
   *   has the same workflow id as the first).
   */
  async trigger(id: string, overlap: OverlapPolicy = 'allow_all', waitMs = 2_000): Promise<string | undefined> {
    const until = Date.now() + waitMs;
    let before = await this.describe(id);
    const near = [...before.info.recentActions.map((a) => a.scheduledAt), ...before.info.nextActionTimes.slice(0, 1)];
    const delay = triggerDelayMs(Date.now(), near);
    if (delay > 0) {
      await new Promise((r) => setTimeout(r, delay));
      // The action of that second has started meanwhile: it is not this trigger's run.
      before = await this.describe(id);
    }
    const seen = new Set(before.info.recentActions.map((a) => a.action.workflow.workflowId));
    for (const a of before.info.runningActions) seen.add(a.workflow.workflowId);
    // A tick taken while this waits is not the trigger's run: had the trigger been dropped, that
    // tick would be answered as its run. Ticks are known by their planned times (for a job with
    // jitter these are the jittered times, not the ticks' nominal ones: there it is no guard).
    const planned = new Set(before.info.nextActionTimes.map((t) => t.getTime()));
    await this.handle(id).trigger(OVERLAP_TO_TEMPORAL[overlap]);
    for (;;) {
      const after = await this.describe(id);
      const fresh = after.info.recentActions.find(
        (a) => !seen.has(a.action.workflow.workflowId) && !planned.has(a.scheduledAt.getTime()),
      )?.action.workflow.workflowId;
      if (fresh !== undefined) return fresh;
      if (Date.now() + 100 >= until) return undefined;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Starts a run now, once per idempotency key: see {@link startRun} (no overrides, no reason).
   * @throws JobNotFoundError
   */
  async triggerOnce(id: string, key: string): Promise<{ workflowId: string; replayed: boolean }> {
    return this.startRun(id, { key, by: { keyId: null, role: null } });
  }

  /**
   * Starts a run now, directly rather than through the schedule (which can neither carry other
   * args nor record who asked): the schedule's action (same workflow, task queue and memo) with
   * the job's input, or with the input of the job's spec with `args` merged in (a JSON merge
   * patch over a code job's args, or over an HTTP job's request fields), validated as a write of
   * the spec would be. The run's memo records who, why and the overrides ({@link TriggerInfo}).
   *
   * Its workflow id is {@link keyedTriggerWorkflowId} (`<jobId>:trigger:<key>`, a random key when
   * none is given), refused by Temporal while one with that id exists or is retained: a trigger
   * sent again with the same key after a lost answer finds the first run instead of starting a
   * second one, and one with the same key and another body (args, reason) is refused. Not
   * subject to the schedule's overlap policy: use {@link trigger} for that.
   * @returns the run's workflow id, and whether an earlier request with this key had started it.
   * @throws JobNotFoundError, InvalidRequestError (args naming the field), IdempotencyKeyReusedError
   */
  async startRun(
    id: string,
    opts: { key?: string | undefined; args?: unknown; reason?: string | undefined; by: TriggerInfo['by'] },
  ): Promise<{ workflowId: string; replayed: boolean }> {
    const desc = await this.describe(id);
    const action = desc.action;
    const hasArgs = opts.args !== undefined;
    const requestHash = createHash('sha256')
      .update(stableJson({ args: opts.args ?? null, reason: opts.reason ?? null }))
      .digest('hex');
    const input = hasArgs ? this.withOverrides(desc, opts.args) : undefined;
    if (opts.key !== undefined) {
      const legacy = await this.legacyKeyedRun(id, opts.key);
      if (legacy !== undefined) {
        if (hasArgs || opts.reason !== undefined) throw new IdempotencyKeyReusedError(id, legacy);
        return { workflowId: legacy, replayed: true };
      }
    }
    const workflowId = keyedTriggerWorkflowId(id, opts.key ?? randomUUID());
    const trigger: TriggerInfo = {
      by: opts.by,
      at: new Date().toISOString(),
      ...(opts.reason === undefined ? {} : { reason: opts.reason }),
      ...(hasArgs ? { overrides: redactHeaderValues(opts.args) } : {}),
      ...(opts.key === undefined ? {} : { idempotencyKey: opts.key }),
      requestHash,
    };
    try {
      await this.deps.client.workflow.start(action.workflowType, {
        workflowId,
        taskQueue: action.taskQueue,
        args: input === undefined ? action.args : [input],
        memo: { ...(action.memo ?? {}), [TRIGGER_MEMO_KEY]: trigger },
        typedSearchAttributes: [
          { key: SundialJobId, value: id },
          { key: SundialStatus, value: 'running' },
        ],
        // Closed runs keep their id for the namespace's retention: a late retry is refused too.
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      });
      return { workflowId, replayed: false };
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    // The key was used: the same body answers with that run, another body is refused.
    const first = await this.deps.client.workflow.getHandle(workflowId).describe();
    const recorded = (first.memo?.[TRIGGER_MEMO_KEY] as Partial<TriggerInfo> | undefined)?.requestHash;
    const noBody = !hasArgs && opts.reason === undefined;
    if (recorded === undefined ? !noBody : recorded !== requestHash)
      throw new IdempotencyKeyReusedError(id, workflowId);
    return { workflowId, replayed: true };
  }

  /**
   * The run of the job's spec as written with a trigger's `args` merged in, validated; problems
   * are named under `args` as sent (`args.count`, `args.url`).
   * @throws InvalidRequestError
   */
  private withOverrides(desc: ScheduleDescription, args: unknown): JobRunInput {
    const written = (readMemo(desc.action) ?? readMemo(desc))?.spec;
    if (written === undefined)
      throw new InvalidRequestError([
        { path: 'args', message: 'this job has no spec Sundial wrote: it cannot take overrides' },
      ]);
    const task = written.task as { type: string; args?: unknown };
    const http = task.type === 'http';
    if (http && (args === null || typeof args !== 'object' || Array.isArray(args))) {
      throw new InvalidRequestError([
        {
          path: 'args',
          message:
            'for an HTTP job, must be an object of request fields to change (url, method, headers, body, timeout, expectStatus, followRedirects)',
        },
      ]);
    }
    if (http && Object.hasOwn(args as object, 'type'))
      throw new InvalidRequestError([{ path: 'args.type', message: 'cannot be changed by a trigger' }]);
    const merged = {
      ...written,
      task: http ? applyMergePatch(task, args) : { ...task, args: applyMergePatch(task.args, args) },
    };
    try {
      const { spec, run } = this.validate(merged);
      if (!http && isHttpTask(spec.task))
        throw new InvalidRequestError([{ path: 'args', message: 'cannot change the task type' }]);
      return run;
    } catch (err) {
      if (!(err instanceof InvalidJobSpecError)) throw err;
      const prefix = http ? 'task.' : 'task.args';
      throw new InvalidRequestError(
        err.problems.map((p): FieldProblem =>
          p.path === prefix || p.path.startsWith(http ? prefix : `${prefix}.`)
            ? { path: `args${p.path.slice(prefix.length - (http ? 1 : 0))}`, message: p.message }
            : p,
        ),
      );
    }
  }

  /**
   * The run an older Sundial started for this key under the former id `<jobId>-trigger-<key>`,
   * when it is this job's (that id could also be another job's: job `a` with key `b-trigger-c` and
   * job `a-trigger-b` with key `c`). Keeps a retry sent across the upgrade from starting a second
   * run; such ids live for the namespace's retention only, after which this lookup can go.
   */
  private async legacyKeyedRun(id: string, key: string): Promise<string | undefined> {
    const workflowId = `${id}-trigger-${key}`;
    try {
      const info = await this.deps.client.workflow.getHandle(workflowId).describe();
      return info.typedSearchAttributes.get(SundialJobId) === id ? workflowId : undefined;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  /** Runs the ticks between start and end that were missed. @throws InvalidRequestError */
  async backfill(id: string, start: Date, end: Date, overlap: OverlapPolicy = 'allow_all'): Promise<void> {
    const problems = [];
    if (end.getTime() <= start.getTime()) problems.push({ path: 'end', message: 'must be after start' });
    if (end.getTime() - start.getTime() > MAX_BACKFILL_MS)
      problems.push({ path: 'end', message: `the range may be at most ${MAX_BACKFILL_MS / 86_400_000} days` });
    if (problems.length > 0) throw new InvalidRequestError(problems);
    await this.describe(id);
    await this.handle(id).backfill({ start, end, overlap: OVERLAP_TO_TEMPORAL[overlap] });
  }

  /**
   * One page of jobs, in the server's order, from one ListSchedules call: a job's spec comes
   * from its schedule's memo when the schedule's `SundialRevision` says it was never updated,
   * else from what this process knows of that revision (its own writes, or one describe).
   * Schedules written by Sundial before mapping 2 (no revision attribute) are described.
   * Schedules not made by Sundial are left out, so a page may hold fewer than `pageSize` items.
   * Visibility is eventually consistent: a job written a moment ago may be listed as it was.
   */
  async list(opts: {
    pageSize: number;
    pageToken?: string | undefined;
    filter?: JobListFilter;
  }): Promise<{ items: JobListItem[]; nextPageToken: string | null }> {
    const query = scheduleListQuery(opts.filter ?? {});
    const pageToken = opts.pageToken === undefined ? undefined : openPageToken(opts.pageToken, query);
    if (opts.pageToken !== undefined && pageToken === undefined) {
      throw new InvalidRequestError([
        { path: 'query.pageToken', message: 'is not a page token of this list with these filters' },
      ]);
    }
    const page = await listSchedulePage(this.deps.client, { pageSize: opts.pageSize, pageToken, query });
    const items = await mapWithConcurrency(
      page.schedules,
      DESCRIBE_CONCURRENCY,
      async (s): Promise<JobListItem | undefined> => {
        if (s.createdMemo === undefined) return undefined; // not made by Sundial
        const written = this.writtenFromListing(s);
        if (written !== undefined) return this.assemble(s.scheduleId, written, s);
        let desc: ScheduleDescription;
        try {
          desc = await this.describe(s.scheduleId);
        } catch (err) {
          if (err instanceof JobNotFoundError) return undefined; // deleted since it was listed
          throw err;
        }
        this.remember(desc);
        const { version: _version, ...item } = this.toView(desc);
        return item;
      },
    );
    const token = page.nextPageToken;
    return {
      items: items.filter((v): v is JobListItem => v !== undefined),
      nextPageToken: token === undefined ? null : sealPageToken(token, query),
    };
  }
}

/**
 * The workflow id of a keyed trigger's run: `<jobId>:trigger:<key>`. One-to-one: a job id has no
 * `:` (JOB_ID_PATTERN), so the job is everything before the first one, and a scheduled run's id
 * (`<jobId>-<time>Z`, with an upper-case `T` before its first `:`) is never of this form.
 */
export function keyedTriggerWorkflowId(jobId: string, key: string): string {
  return `${jobId}:trigger:${key}`;
}

/** What only a write of the spec changes: one value per revision. */
interface WrittenPart {
  readonly spec: JobSpecInput;
  readonly origin: JobOrigin;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly warnings: string[];
}

/** What the schedule's own life changes: state, fire times, runs. */
interface LivePart {
  readonly paused: boolean;
  readonly note: string | null;
  readonly nextActionTimes: readonly Date[];
  readonly recentActions: readonly ScheduleExecutionResult[];
}

/**
 * A described schedule's written part. The times are the memo's (`writtenAt`, when the spec was
 * written), so a listing can give the same ones; schedules written before mapping 2 fall back to
 * Temporal's own, whose update time also moves on pause and unpause.
 */
function writtenPart(desc: ScheduleDescription): WrittenPart {
  const current = readMemo(desc.action) ?? readMemo(desc);
  const created = readMemo(desc);
  const createdAt = created?.writtenAt ?? desc.info.createdAt.toISOString();
  return {
    spec: current?.spec ?? ({ id: desc.scheduleId } as JobSpecInput),
    origin: current?.origin ?? 'api',
    createdAt,
    updatedAt: current?.writtenAt ?? (desc.info.lastUpdatedAt ?? desc.info.createdAt).toISOString(),
    warnings: warningsFor(current?.spec),
  };
}

/** DST warnings for a spec as written; none when it no longer validates (e.g. an old memo). */
function warningsFor(written: JobSpecInput | undefined): string[] {
  if (written === undefined) return [];
  const parsed = parseJobSpec(written);
  return parsed.ok ? dstWarnings(parsed.spec) : [];
}
