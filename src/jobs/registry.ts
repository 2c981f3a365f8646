import { checkUrlHost, refusalMessage, type EgressPolicy } from '../egress/policy';
import type { NotifyRules } from '../notify/schema';
import { findSecretRefs, REDACTED, replaceSecretRefs } from '../secrets/reference';
import type { DefinedJob, JobCode } from './define';
import { JobDefinitionError } from './errors';
import { planRun } from './plan';
import type { JobRunInput } from './run-types';
import { isHttpTask, issuesToProblems, parseJobSpec, type FieldProblem, type JobSpec, type JobSpecInput } from './spec';

/** A code-defined job after validation. */
export interface RegisteredJob {
  /** The spec as the user wrote it (no defaults filled in): what the schedule memo records. */
  readonly written: JobSpecInput;
  readonly spec: JobSpec;
  readonly run: JobRunInput;
}

/** The jobs and job types known to this process, validated once. */
export class JobRegistry {
  private constructor(
    readonly jobs: ReadonlyArray<RegisteredJob>,
    private readonly code: ReadonlyMap<string, JobCode>,
    /** Rules of every job without its own `notify` (SUNDIAL_NOTIFY_DEFAULTS); compiled into runs by planRun. */
    readonly notifyDefaults?: NotifyRules,
  ) {}

  /**
   * Validates every definition and builds the registry. With `egress`, an HTTP job whose URL is
   * a literal address (or localhost) that policy refuses is a bad `task.url`; the processes
   * pass their configuration's policy (names are checked when the job connects); so is a
   * notification webhook's URL. `notifyDefaults` go to every job without its own `notify`.
   * @throws JobDefinitionError listing every bad field of every job, and duplicate ids.
   */
  static create(
    defined: ReadonlyArray<DefinedJob>,
    opts: { readonly egress?: EgressPolicy; readonly notifyDefaults?: NotifyRules } = {},
  ): JobRegistry {
    const problems: Array<{ jobId: string; path: string; message: string }> = [];
    const code = new Map<string, JobCode>();
    const seen = new Set<string>();
    for (const d of defined) {
      const jobId = typeof d.spec.id === 'string' && d.spec.id !== '' ? d.spec.id : '(no id)';
      if (seen.has(jobId)) problems.push({ jobId, path: 'id', message: 'duplicate job id' });
      seen.add(jobId);
      if (d.code !== undefined && d.spec.task.type !== 'http') code.set(d.spec.task.type, d.code);
    }
    const jobs: RegisteredJob[] = [];
    for (const d of defined) {
      const jobId = typeof d.spec.id === 'string' && d.spec.id !== '' ? d.spec.id : '(no id)';
      const parsed = parseJobSpec(d.spec);
      if (!parsed.ok) {
        for (const p of parsed.problems) problems.push({ jobId, ...p });
        continue;
      }
      const taskProblems = checkTask(parsed.spec, (n) => code.get(n), opts.egress);
      if (taskProblems.length > 0) {
        for (const p of taskProblems) problems.push({ jobId, ...p });
        continue;
      }
      jobs.push({
        written: d.spec,
        spec: parsed.spec,
        run: planRun(parsed.spec, (name) => code.get(name), opts.notifyDefaults),
      });
    }
    // Jobs that share a breaker key share one breaker: its thresholds must be declared once.
    const byKey = new Map<string, RegisteredJob>();
    for (const job of jobs) {
      const key = job.run.breaker?.key;
      if (key === undefined) continue;
      const first = byKey.get(key);
      if (first === undefined) byKey.set(key, job);
      else {
        const problem = breakerConflict(job.run, first);
        if (problem !== undefined) problems.push({ jobId: job.spec.id, ...problem });
      }
    }
    if (problems.length > 0) throw new JobDefinitionError(problems);
    return new JobRegistry(jobs, code, opts.notifyDefaults);
  }

  /**
   * A job declaring breaker `key` with other thresholds than a code job on the same key: the API
   * refuses it, as the registry refuses two such code jobs. (The job store compares API jobs
   * with each other, through the schedules' SundialBreakerKey.)
   */
  breakerConflictFor(run: JobRunInput): FieldProblem | undefined {
    const key = run.breaker?.key;
    if (key === undefined) return undefined;
    const other = this.jobs.find((j) => j.run.breaker?.key === key && j.spec.id !== run.jobId);
    return other === undefined ? undefined : breakerConflict(run, other);
  }

  /** The code of a job type, or undefined when this process does not have it. */
  codeFor(name: string): JobCode | undefined {
    return this.code.get(name);
  }

  /** The code job types: name, description, how they run, and their args' schema. */
  jobTypes(): Array<{ name: string; description: string; mode: JobCode['mode']; argsSchema?: JobCode['argsSchema'] }> {
    return [...this.code.entries()].map(([name, c]) => ({
      name,
      description: c.description,
      mode: c.mode,
      ...(c.argsSchema ? { argsSchema: c.argsSchema } : {}),
    }));
  }

  get(jobId: string): RegisteredJob | undefined {
    return this.jobs.find((j) => j.spec.id === jobId);
  }
}

/**
 * Checks what the schema alone cannot: a code task names a job type this process has, and its
 * args match that type's schema; an HTTP task's URL is not a literal address `egress` refuses.
 */
export function checkTask(
  spec: JobSpec,
  codeFor: (name: string) => JobCode | undefined,
  egress?: EgressPolicy,
): FieldProblem[] {
  const refused = egress === undefined ? [] : notifyEgressProblems(spec, egress);
  const own = checkTaskItself(spec, codeFor, egress);
  return [...own, ...refused];
}

/** Notification webhooks whose URL is a literal address `egress` refuses (a delivery would be refused). */
function notifyEgressProblems(spec: JobSpec, egress: EgressPolicy): FieldProblem[] {
  return (spec.notify ?? []).flatMap((rule, i) => {
    if (rule.to.type !== 'webhook') return [];
    const decision = checkUrlHost(egress, rule.to.url);
    return decision === undefined || decision.allowed
      ? []
      : [{ path: `notify.${i}.to.url`, message: refusalMessage(decision) }];
  });
}

function checkTaskItself(
  spec: JobSpec,
  codeFor: (name: string) => JobCode | undefined,
  egress?: EgressPolicy,
): FieldProblem[] {
  const task = spec.task;
  if (spec.fallback?.type === 'function') {
    const code = isHttpTask(task) ? undefined : codeFor(task.type);
    if (code === undefined || code.mode !== 'activity' || code.fallbackRun === undefined) {
      return [
        { path: 'fallback.type', message: "a 'function' fallback needs a code job whose definition has fallbackRun" },
      ];
    }
  }
  if (isHttpTask(task)) {
    const decision = egress === undefined ? undefined : checkUrlHost(egress, task.url);
    return decision === undefined || decision.allowed ? [] : [{ path: 'task.url', message: refusalMessage(decision) }];
  }
  const code = codeFor(task.type);
  if (code === undefined)
    return [
      {
        path: 'task.type',
        message: `no job type ${JSON.stringify(task.type)} is defined in code (see GET /api/v1/job-types)`,
      },
    ];
  if (code.mode === 'workflow' && spec.execution === 'local') {
    return [
      {
        path: 'execution',
        message: 'a multi-step (workflow) job runs its attempts as child workflows: "local" does not apply',
      },
    ];
  }
  if (!('args' in task)) return [];
  const refs = findSecretRefs(task.args);
  if (code.mode === 'workflow' && refs.length > 0) {
    // Workflow code must not read the environment: only an activity can resolve a reference.
    return refs.map((r) => ({
      path: ['task', 'args', ...r.path].join('.'),
      message: 'a multi-step (workflow) job cannot take secret references: its code runs in a workflow',
    }));
  }
  if (code.argsSchema === undefined) return [];
  // The job's code sees each reference as the secret's value: a string.
  const parsed = code.argsSchema.safeParse(
    refs.length === 0 ? task.args : replaceSecretRefs(task.args, () => REDACTED),
  );
  return parsed.success ? [] : issuesToProblems(parsed.error.issues, ['task', 'args']);
}

/** The problem when `run` declares its breaker key with other thresholds than `other` does. */
function breakerConflict(run: JobRunInput, other: RegisteredJob): FieldProblem | undefined {
  return breakerConflictWith(run, other.run);
}

/** Two jobs' runs declaring one breaker key with different thresholds: the problem, naming the other job. */
export function breakerConflictWith(run: JobRunInput, other: JobRunInput): FieldProblem | undefined {
  const mine = run.breaker;
  const theirs = other.breaker;
  if (
    mine === undefined ||
    theirs === undefined ||
    mine.key !== theirs.key ||
    JSON.stringify(mine.config) === JSON.stringify(theirs.config)
  )
    return undefined;
  return {
    path: 'breaker',
    message: `breaker ${JSON.stringify(mine.key)} is also declared by job ${JSON.stringify(other.jobId)} with other thresholds; jobs sharing a key share one breaker: declare the same failureThreshold, failureRate, openFor, maxOpenFor and halfOpenProbes`,
  };
}
