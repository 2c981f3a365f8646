import type { Logger } from 'pino';
import type { ZodType } from 'zod';
import type { JobSpecInput } from './spec';

/** What a job's code receives on every attempt. */
export interface JobContext<Args = unknown> {
  readonly jobId: string;
  readonly workflowId: string;
  readonly runId: string;
  /** When the tick was due; for a run started by hand, when it started. */
  readonly scheduledAt: Date;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /**
   * The same for every attempt of one tick, different for every tick. Pass it to the systems
   * you call (e.g. as an `Idempotency-Key` header) so a retried side effect happens once.
   */
  readonly idempotencyKey: string;
  /** Fires when the run is cancelled, the attempt timed out, or the worker shuts down. */
  readonly signal: AbortSignal;
  /** Tells Temporal this attempt is alive; needed when the job sets a heartbeat timeout. */
  heartbeat(details?: unknown): void;
  /** A logger bound to this run (job id, workflow id, run id, attempt). */
  readonly logger: Logger;
  readonly args: Args;
}

export type JobHandler<Args = unknown, Result = unknown> = (ctx: JobContext<Args>) => Promise<Result> | Result;

type Common = Omit<JobSpecInput, 'task'>;

/** A job whose code is an activity function: the common case. */
export interface ActivityJobDefinition<Args = unknown, Result = unknown> extends Common {
  readonly run: JobHandler<Args, Result>;
  readonly args?: Args;
  /** Validates `args` of jobs of this type (here and over the API); published as JSON Schema. */
  readonly argsSchema?: ZodType<Args>;
  /**
   * Runs instead of `run` while the job's breaker is open, with `fallback: { type: 'function' }`:
   * e.g. read a replica, or return a safe default. Its result makes the run `degraded`.
   */
  readonly fallbackRun?: JobHandler<Args, Result>;
}

/**
 * A multi-step job whose code is a whole workflow, exported from the worker's workflows module
 * (Sundial's own, or yours: SUNDIAL_WORKFLOWS_MODULE, `createWorker({ workflowsPath })`).
 * The job's retry policy then applies to the workflow as a whole.
 */
export interface WorkflowJobDefinition<Args = unknown> extends Common {
  /**
   * The workflow type: its exported name, or the workflow function itself (imported from your
   * workflows module, so that a rename is a compile error and `args` is checked against its
   * parameter). A function's `name` must be the name it is exported under.
   */
  readonly workflow: string | ((args: Args) => Promise<unknown>);
  readonly args?: Args;
  readonly argsSchema?: ZodType<Args>;
}

/** A job that calls a URL, with no code. */
export interface HttpJobDefinition extends Common {
  readonly http: Omit<Extract<JobSpecInput['task'], { type: 'http' }>, 'type'>;
}

export type JobDefinition = ActivityJobDefinition<any, any> | WorkflowJobDefinition<any> | HttpJobDefinition;

/** The code behind a code job type. */
export type JobCode = (
  | { readonly mode: 'activity'; readonly run: JobHandler<any, any>; readonly fallbackRun?: JobHandler<any, any> }
  | { readonly mode: 'workflow'; readonly workflowType: string }
) & { readonly description: string; readonly argsSchema?: ZodType };

/** A defined job: its serializable spec plus, for code jobs, the code. */
export interface DefinedJob {
  readonly spec: JobSpecInput;
  readonly code?: JobCode;
}

/**
 * Defines a job in code. Validation happens when the registry is built, so that every bad
 * definition is reported at once, naming the job and the field.
 */
export function defineJob<Args, Result>(def: ActivityJobDefinition<Args, Result>): DefinedJob;
export function defineJob<Args>(def: WorkflowJobDefinition<Args>): DefinedJob;
export function defineJob(def: HttpJobDefinition): DefinedJob;
export function defineJob(def: JobDefinition): DefinedJob {
  if ('http' in def) {
    const { http, ...rest } = def;
    return { spec: { ...rest, task: { type: 'http', ...http } } };
  }
  if ('workflow' in def) {
    const { workflow, args, argsSchema, ...rest } = def;
    return {
      spec: { ...rest, task: { type: def.id, args } },
      code: {
        mode: 'workflow',
        workflowType: typeof workflow === 'string' ? workflow : workflow.name,
        description: def.description ?? '',
        ...(argsSchema ? { argsSchema } : {}),
      },
    };
  }
  const { run, args, argsSchema, fallbackRun, ...rest } = def;
  return {
    spec: { ...rest, task: { type: def.id, args } },
    code: {
      mode: 'activity',
      run,
      description: def.description ?? '',
      ...(argsSchema ? { argsSchema } : {}),
      ...(fallbackRun ? { fallbackRun } : {}),
    },
  };
}
