import { hostname } from 'node:os';
import { type NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities';
import type { EgressPolicy } from '../egress/policy';
import type { JobRegistry } from '../jobs/registry';
import type { Logger } from '../observability/logger';
import type { NotificationMetrics } from '../observability/metrics';
import { DEFAULT_WORKFLOW_CACHE } from '../config/env';
import { sundialDataConverter, type CodecKey } from '../temporal/codec';
import { workflowsModule, type WorkflowsModule } from './workflows-module';

export interface SundialWorkerOptions {
  readonly connection: NativeConnection;
  readonly namespace: string;
  readonly taskQueue: string;
  readonly registry: JobRegistry;
  readonly logger: Logger;
  /** How long running activities may finish on shutdown before being cancelled, in ms. */
  readonly shutdownGraceMs: number;
  /** Where HTTP jobs may connect (the configuration's `egress`). */
  readonly egress: EgressPolicy;
  /** @default `<pid>@<hostname>` */
  readonly identity?: string;
  /** Payload codec keys (config `temporal.codecKeys`); none: payloads as the SDK writes them. */
  readonly codecKeys?: readonly CodecKey[] | undefined;
  /** Values of secret references, by name (config `secrets`). @default none */
  readonly secrets?: ReadonlyMap<string, string>;
  /** Base URL of Temporal's Web UI, for the links notifications carry. @default none (webUrl null) */
  readonly webUiUrl?: string;
  /** Where this worker counts its notification deliveries. @default not counted */
  readonly notificationMetrics?: NotificationMetrics;
  /**
   * The user's workflows module (config `workflowsModule`), bundled together with Sundial's.
   * @default Sundial's workflows only
   */
  readonly workflowsPath?: string | undefined;
  /** Workflows kept cached (config `workflowCacheSize`). @default {@link DEFAULT_WORKFLOW_CACHE} */
  readonly maxCachedWorkflows?: number;
}

/** See stickyQueueScheduleToStartTimeout below. */
export const STICKY_TIMEOUT_MS = 2_000;

/**
 * Worker options tuned for many short runs (bench/README.md, "Run cost", has the measurements).
 * Every run is a new workflow whose first workflow task (for a local-activity run, its only
 * one) comes from the non-sticky queue, where the SDK's default ratio of 0.2 leaves 2 of 10
 * pollers; sticky pollers serve only the tasks after an activity. Exported so the run-cost
 * bench gives its raw reference worker the same.
 */
export const WORKER_TUNING = { nonStickyToStickyPollRatio: 0.5 } as const satisfies Partial<WorkerOptions>;

export { WORKFLOWS_PATH } from './workflows-module';

/**
 * Creates a worker serving Sundial's workflows and activities on one task queue. Workers are
 * stateless: run as many as you like; any of them can pick up any run.
 */
export async function createSundialWorker(opts: SundialWorkerOptions): Promise<Worker> {
  const identity = opts.identity ?? `${process.pid}@${hostname()}`;
  const workflows = workflowsModule(opts.workflowsPath);
  try {
    return await createWorker(opts, identity, workflows);
  } finally {
    // The bundle is built by now (or failed): the generated entry is not needed again.
    workflows.dispose();
  }
}

function createWorker(opts: SundialWorkerOptions, identity: string, workflows: WorkflowsModule): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    identity,
    workflowsPath: workflows.workflowsPath,
    ...(workflows.webpackConfigHook === undefined
      ? {}
      : { bundlerOptions: { webpackConfigHook: workflows.webpackConfigHook } }),
    activities: createActivities({
      registry: opts.registry,
      logger: opts.logger,
      userAgent: `sundial (worker ${identity})`,
      egress: opts.egress,
      secrets: opts.secrets ?? new Map(),
      ...(opts.webUiUrl === undefined ? {} : { webUiUrl: opts.webUiUrl }),
      ...(opts.notificationMetrics === undefined ? {} : { notificationMetrics: opts.notificationMetrics }),
    }),
    dataConverter: sundialDataConverter(opts.codecKeys),
    // A workflow's next task goes first to the worker that has it cached. If that worker died
    // (kill -9), the task waits this long before any worker may take it: the SDK's 10 s default
    // would dominate failover time. A cache miss costs a replay, cheap for our short workflows.
    stickyQueueScheduleToStartTimeout: STICKY_TIMEOUT_MS,
    maxCachedWorkflows: opts.maxCachedWorkflows ?? DEFAULT_WORKFLOW_CACHE,
    shutdownGraceTime: opts.shutdownGraceMs,
    // Activities cancelled at the end of the grace time get a moment to report back.
    shutdownForceTime: opts.shutdownGraceMs + 5_000,
    ...WORKER_TUNING,
  });
}
