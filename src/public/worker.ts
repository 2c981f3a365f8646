/**
 * `sundial/worker`: a Sundial worker inside your own process, with your jobs and your own
 * workflows module (for multi-step jobs) bundled together with Sundial's workflows.
 */
import { loadConfig, type Config } from '../config/env';
import type { DefinedJob } from '../jobs/define';
import { JobRegistry } from '../jobs/registry';
import { configuredApiUrl } from '../main/jobs';
import { startWorker, stopWorker, type WorkerParts } from '../main/worker';
import { createLogger, type Logger } from '../observability/logger';

export { SUNDIAL_WORKFLOW_TYPES } from '../worker/workflows-module';

/** Your jobs: `defineJob(...)` results, or a function of Sundial's API URL returning them. */
export type JobsOption = readonly DefinedJob[] | ((ctx: { apiUrl: string }) => readonly DefinedJob[]);

export interface CreateWorkerOptions {
  readonly jobs: JobsOption;
  /**
   * Path of your workflows module (`.ts` or `.js`), for multi-step jobs: every workflow it
   * exports can be named by `defineJob({ workflow })`. It is bundled with Sundial's workflows;
   * the names in {@link SUNDIAL_WORKFLOW_TYPES} are Sundial's. Relative to the working directory.
   * @default SUNDIAL_WORKFLOWS_MODULE, else none
   */
  readonly workflowsPath?: string;
  /**
   * Where the configuration is read from (TEMPORAL_ADDRESS, TEMPORAL_TASK_QUEUE, ...: the
   * variables of docs/package.md).
   * @default process.env
   */
  readonly env?: NodeJS.ProcessEnv;
  /** @default JSON lines on stdout at LOG_LEVEL */
  readonly logger?: Logger;
}

/** A running worker. */
export interface SundialWorker {
  /** The Temporal frontend it connected through. */
  readonly address: string;
  readonly taskQueue: string;
  /** The ids of the jobs it serves. */
  readonly jobs: readonly string[];
  /** Settles when the worker has stopped; rejects when it failed. */
  readonly done: Promise<void>;
  /**
   * Drains: running attempts get SUNDIAL_SHUTDOWN_GRACE (default 10 s), then are cancelled and
   * retried by another worker. Does not exit the process.
   */
  stop(): Promise<void>;
}

/**
 * Validates your jobs, reconciles their schedules with Temporal (safe from any number of
 * workers at once) and starts a worker serving them. Install your own signal handling and call
 * `stop()` from it.
 * @throws ConfigError naming the bad environment variable.
 * @throws JobDefinitionError naming every bad job and field.
 * @throws TemporalUnavailableError when Temporal does not answer within TEMPORAL_CONNECT_TIMEOUT.
 */
export async function createWorker(options: CreateWorkerOptions): Promise<SundialWorker> {
  const loaded = loadConfig(options.env ?? process.env, 'worker');
  const config: Config = { ...loaded, workflowsModule: options.workflowsPath ?? loaded.workflowsModule };
  const logger = options.logger ?? createLogger(config.logLevel);
  const jobs = typeof options.jobs === 'function' ? options.jobs({ apiUrl: configuredApiUrl(config) }) : options.jobs;
  const registry = JobRegistry.create([...jobs], { egress: config.egress });
  const parts: WorkerParts = {};
  try {
    const { worker } = await startWorker(config, logger, registry, parts);
    return {
      address: worker.address,
      taskQueue: config.temporal.taskQueue,
      jobs: registry.jobs.map((j) => j.spec.id),
      done: worker.done,
      stop: () => stopWorker(parts),
    };
  } catch (err) {
    await stopWorker(parts).catch(() => undefined);
    throw err;
  }
}
