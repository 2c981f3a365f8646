import { createHash, randomUUID } from 'node:crypto';
import { ScheduleOverlapPolicy, type ScheduleOptions, type ScheduleUpdateOptions } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { compileScheduleCrons } from '../jobs/cron';
import type { AuditActor } from '../audit/contract';
import type { JobSpec, JobSpecInput, OverlapPolicy } from '../jobs/spec';
import { JOB_WORKFLOW_TYPE, type JobRunInput } from '../jobs/run-types';
import { parseDuration } from '../util/duration';
import {
  SundialBreakerKey,
  SundialJobId,
  SundialOrigin,
  SundialRevision,
  SundialStatus,
} from '../temporal/search-attributes';

/**
 * Bump when the mapping below changes, so reconciliation rewrites every schedule once.
 * 2: the schedule carries `SundialOrigin` and `SundialRevision`; the memo `writtenAt`.
 */
export const MAPPING_VERSION = 2;

/** Where a job came from: code jobs are owned by deployments, api jobs by operators. */
export type JobOrigin = 'code' | 'api';

/** What Sundial keeps in a schedule's memo (and in its action's memo, which stays current). */
export interface SundialMemo {
  readonly version: number;
  readonly origin: JobOrigin;
  readonly taskQueue: string;
  /** The spec exactly as the user wrote it: Temporal's describe returns compiled calendars. */
  readonly spec: JobSpecInput;
  /** Hash of everything that shapes the schedule; equal hash means nothing to update. */
  readonly hash: string;
  /**
   * Names this particular write: `<hash>.<nonce>` (just `<hash>` when written without a stamp,
   * and in memos of older Sundial versions). Temporal drops an update whose conflict token is
   * stale without telling the caller, so a compare-and-set reads the revision back to learn
   * whether it won; the schedule's `SundialRevision` search attribute holds the same value.
   */
  readonly revision: string;
  /** When this spec was written (ISO 8601); absent in memos of Sundial before mapping 2. */
  readonly writtenAt?: string;
  /**
   * The job's most recent paused periods, oldest first, as Sundial's own writes made them
   * (pause, unpause, PATCH `paused`): Temporal keeps only the current state, and the tick ledger
   * needs the past ones. In the action memo only (the one an update rewrites); bounded by
   * {@link MAX_PAUSE_RECORDS}. Absent: none recorded.
   */
  readonly pauses?: readonly PauseRecord[];
}

/** A paused period of a job: from `from` to `to` (ISO 8601); no `to` while it lasts. */
export interface PauseRecord {
  readonly from: string;
  readonly to?: string;
  /** The note given when pausing, cut to {@link MAX_PAUSE_NOTE} characters. */
  readonly note?: string;
}

/** How many paused periods a job keeps (the oldest go first): every run's memo carries them. */
export const MAX_PAUSE_RECORDS = 20;
/** How much of a pause's note is kept in its record. */
export const MAX_PAUSE_NOTE = 100;

/**
 * The pause records after the job's paused state changes to `paused` at `at`: a pause opens a
 * period (unless one is open), an unpause closes the open one (if any). Pure.
 */
export function recordPauseChange(
  pauses: readonly PauseRecord[] | undefined,
  paused: boolean,
  at: Date,
  note?: string,
): PauseRecord[] {
  const list = [...(pauses ?? [])];
  const last = list[list.length - 1];
  const open = last !== undefined && last.to === undefined;
  if (paused && !open)
    list.push({
      from: at.toISOString(),
      ...(note === undefined || note === '' ? {} : { note: note.slice(0, MAX_PAUSE_NOTE) }),
    });
  if (!paused && open) list[list.length - 1] = { ...last, to: at.toISOString() };
  return list.slice(-MAX_PAUSE_RECORDS);
}

/** For a create: a schedule created paused starts with that paused period on record. */
export function withInitialPause(desired: DesiredSchedule): DesiredSchedule {
  const at = desired.memo.writtenAt;
  return desired.options.state?.paused === true && at !== undefined
    ? withPauses(desired, [{ from: at, note: 'created paused' }])
    : desired;
}

/** The same schedule with these pause records in its action memo (the one updates rewrite). */
export function withPauses(desired: DesiredSchedule, pauses: readonly PauseRecord[] | undefined): DesiredSchedule {
  if (pauses === undefined || pauses.length === 0) return desired;
  const memo: SundialMemo = { ...desired.memo, pauses };
  const action = desired.options.action;
  return {
    ...desired,
    memo,
    options: { ...desired.options, action: { ...action, memo: { ...action.memo, [MEMO_KEY]: memo } } },
  };
}

/** Names one write of a schedule: see {@link SundialMemo.revision} and `writtenAt`. */
export interface WriteStamp {
  readonly nonce: string;
  readonly at: Date;
}

/** A fresh stamp for a write happening now. */
export function newWriteStamp(now = new Date()): WriteStamp {
  return { nonce: randomUUID().slice(0, 8), at: now };
}

/** The spec hash a revision was written with. */
export function revisionHash(revision: string): string {
  const dot = revision.indexOf('.');
  return dot < 0 ? revision : revision.slice(0, dot);
}

export const MEMO_KEY = 'sundial';

/**
 * The schedule-level memo key of who created a job over the API, when and under which audit
 * entry id (written once, with the schedule: see AuditCreated in src/audit/contract.ts).
 */
export const CREATED_MEMO_KEY = 'sundialCreated';

/** Who created a job over the API, as its schedule records it. */
export interface CreatedRecord {
  readonly id: string;
  readonly by: AuditActor;
  readonly at: string;
}

/** Sundial's overlap names to Temporal's. */
export const OVERLAP_TO_TEMPORAL: Record<OverlapPolicy, ScheduleOverlapPolicy> = {
  skip: ScheduleOverlapPolicy.SKIP,
  buffer_one: ScheduleOverlapPolicy.BUFFER_ONE,
  buffer_all: ScheduleOverlapPolicy.BUFFER_ALL,
  cancel_other: ScheduleOverlapPolicy.CANCEL_OTHER,
  terminate_other: ScheduleOverlapPolicy.TERMINATE_OTHER,
  allow_all: ScheduleOverlapPolicy.ALLOW_ALL,
};

/** JSON with sorted keys, so equal values hash equally. */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export interface DesiredSchedule {
  readonly scheduleId: string;
  readonly memo: SundialMemo;
  /** The breaker key its runs declare, if any: a search attribute of the schedule. */
  readonly breakerKey?: string;
  readonly options: ScheduleOptions;
}

/**
 * Maps a job to the Temporal schedule that runs it. Pure: the same job, task queue and stamp
 * always give the same options, and the same job and task queue the same hash.
 */
export function toSchedule(
  job: { written: JobSpecInput; spec: JobSpec; run: JobRunInput },
  taskQueue: string,
  origin: JobOrigin,
  write?: WriteStamp,
): DesiredSchedule {
  const { spec } = job;
  const s = spec.schedule;
  // A schedule has one time zone (validation makes CRON_TZ prefixes agree with `timezone`).
  // The server wants every cron string to carry the same prefix or none, so move it to the spec.
  // Temporal does not know H: it is expanded here, for this job id.
  const compiled = compileScheduleCrons(spec.id, s);
  const timezone = compiled.timezone;
  const cronExpressions = compiled.crons.map((c) => c.temporal);
  const intervals = (s.intervals ?? []).map((iv) => ({
    every: parseDuration(iv.every),
    ...(iv.offset === undefined ? {} : { offset: parseDuration(iv.offset) }),
  }));
  const hash = createHash('sha256')
    // H's expansion also depends on the tz database (the DST hours it avoids), so it joins the
    // hash: the schedule is rewritten when the expansion changes and never otherwise. Only jobs
    // with an H carry it, so every other job keeps the hash it had.
    .update(
      stableJson({
        v: MAPPING_VERSION,
        spec,
        run: job.run,
        taskQueue,
        origin,
        ...(compiled.hashed ? { cronExpressions } : {}),
      }),
    )
    .digest('hex')
    .slice(0, 32);
  const memo: SundialMemo = {
    version: MAPPING_VERSION,
    origin,
    taskQueue,
    spec: job.written,
    hash,
    revision: write === undefined ? hash : `${hash}.${write.nonce}`,
    ...(write === undefined ? {} : { writtenAt: write.at.toISOString() }),
  };
  const options: ScheduleOptions = {
    scheduleId: spec.id,
    spec: {
      ...(cronExpressions.length > 0 ? { cronExpressions } : {}),
      ...(intervals.length > 0 ? { intervals } : {}),
      ...(timezone === undefined ? {} : { timezone }),
      ...(s.jitter === undefined ? {} : { jitter: parseDuration(s.jitter) }),
      ...(s.startAt === undefined ? {} : { startAt: new Date(s.startAt) }),
      ...(s.endAt === undefined ? {} : { endAt: new Date(s.endAt) }),
    },
    action: {
      type: 'startWorkflow',
      workflowType: JOB_WORKFLOW_TYPE,
      // Temporal appends the tick's time: runs are `<jobId>-<RFC3339>`, so a tick cannot run twice.
      workflowId: spec.id,
      taskQueue,
      args: [job.run],
      memo: { [MEMO_KEY]: memo },
      // Set at start, so the run does not upsert it (one command and visibility write less).
      typedSearchAttributes: [
        { key: SundialJobId, value: spec.id },
        { key: SundialStatus, value: 'running' },
      ],
    },
    policies: {
      overlap: OVERLAP_TO_TEMPORAL[spec.policies.overlap],
      catchupWindow: parseDuration(spec.policies.catchupWindow),
      pauseOnFailure: spec.policies.pauseOnFailure,
    },
    memo: { [MEMO_KEY]: memo },
    // Rewritten by every update (unlike the memo): what the job list filters and checks on.
    typedSearchAttributes: scheduleSearchAttributes(memo, job.run.breaker?.key),
    state: {
      paused: spec.paused,
      ...(spec.paused ? { note: 'created paused' } : {}),
    },
  };
  return {
    scheduleId: spec.id,
    memo,
    ...(job.run.breaker === undefined ? {} : { breakerKey: job.run.breaker.key }),
    options,
  };
}

/**
 * The update for an existing schedule: everything rebuilt from the spec (never merged into the
 * described spec, whose compiled calendars would otherwise survive a cron change:
 * sdk-typescript#1351), keeping the paused state and note an operator may have set.
 */
export function toScheduleUpdate(
  desired: DesiredSchedule,
  current: { paused: boolean; note?: string | undefined },
): ScheduleUpdateOptions {
  const { scheduleId: _id, memo: _memo, state: _state, typedSearchAttributes: _attrs, ...rest } = desired.options;
  return {
    ...rest,
    typedSearchAttributes: new TypedSearchAttributes(scheduleSearchAttributes(desired.memo, desired.breakerKey)),
    state: { paused: current.paused, ...(current.note === undefined ? {} : { note: current.note }) },
  };
}

function scheduleSearchAttributes(memo: SundialMemo, breakerKey: string | undefined) {
  return [
    { key: SundialOrigin, value: memo.origin },
    { key: SundialRevision, value: memo.revision },
    ...(breakerKey === undefined ? [] : [{ key: SundialBreakerKey, value: breakerKey }]),
  ];
}

/** Reads Sundial's memo from a schedule's action (current) or, failing that, the schedule. */
export function readMemo(source: { memo?: Record<string, unknown> | undefined } | undefined): SundialMemo | undefined {
  const m = source?.memo?.[MEMO_KEY] as Partial<SundialMemo> | undefined;
  return m !== undefined && typeof m.hash === 'string' && (m.origin === 'code' || m.origin === 'api')
    ? (m as SundialMemo)
    : undefined;
}
