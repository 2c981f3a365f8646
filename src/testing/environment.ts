import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { breakerWorkflowId, type BreakerView } from '../breaker/contract';
import { BreakerStore } from '../breaker/store';
import { PUBLIC_ONLY, withLoopback, type EgressPolicy } from '../egress/policy';
import type { DefinedJob } from '../jobs/define';
import { JobRegistry } from '../jobs/registry';
import type { JobRunInput, RunOutcome } from '../jobs/run-types';
import { createLogger, type Logger } from '../observability/logger';
import { ensureTemporalCli } from '../temporal/cli';
import { startDevServer, type DevServer } from '../temporal/dev-server';
import { ensureSearchAttributes } from '../temporal/register-search-attributes';
import { installRuntime } from '../temporal/runtime';
import { freePort } from '../util/ports';
import { runJobWorkflow } from './run';
import { startWorker, type RunningWorker } from './worker';

/** What {@link createTestEnvironment} starts. */
export interface TestEnvironmentOptions {
  /** The jobs its worker serves (code, HTTP and multi-step jobs alike). */
  readonly jobs: readonly DefinedJob[];
  /**
   * host:port of a running Temporal server (e.g. `temporal server start-dev`, or the one a test
   * runner started). Absent: a dev server of its own, in memory, on a free port, stopped by `stop()`.
   */
  readonly address?: string;
  /** @default 'default' */
  readonly namespace?: string;
  /**
   * The fast clock: the waits Sundial makes on purpose are multiplied by this, i.e. the delays
   * between attempts (`retry.initialInterval`, `retry.maximumInterval`, so every backoff) and an
   * open breaker's `openFor`. 0.01 makes a 5 s backoff 50 ms. Timeouts, a failure-rate window and
   * a cache's `maxStaleness` stay as declared: they bound real work and real age. (Temporal's
   * time-skipping test server would skip them all, but it is a separate download.) @default 1
   */
  readonly timeScale?: number;
  /** Values of secret references, by name, as a worker's `SUNDIAL_SECRET_<NAME>`. @default none */
  readonly secrets?: ReadonlyMap<string, string> | Readonly<Record<string, string>>;
  /** Where HTTP jobs may connect. @default public addresses and loopback (where a test's own servers listen) */
  readonly egress?: EgressPolicy;
  /** For the worker, the SDK and the dev server. @default LOG_LEVEL, else 'error' */
  readonly logger?: Logger;
  /**
   * The user's workflows module (a `.ts` or `.js` file), bundled with Sundial's, for multi-step jobs.
   * @default Sundial's workflows only
   */
  readonly workflowsPath?: string;
  /** Path of the Temporal CLI for the dev server. @default found as `npm start` finds it ($TEMPORAL_CLI, PATH, Sundial's cache) */
  readonly temporalCli?: string;
}

/** How {@link TestEnvironment.runJob} starts a run. */
export interface RunJobOptions {
  /** The run's args instead of the job's declared ones (code jobs only). */
  readonly args?: unknown;
  /** @default `<jobId>-test-<uuid>`; it is also the run's idempotency key */
  readonly workflowId?: string;
}

/** A Temporal server, a worker serving the given jobs on a task queue of its own, and a client. */
export interface TestEnvironment {
  /** host:port of the Temporal server. */
  readonly address: string;
  readonly namespace: string;
  /** The worker's task queue: unique to this environment. */
  readonly taskQueue: string;
  readonly client: Client;
  /**
   * Runs the job once to its end, as `POST /jobs/{id}/trigger` would (its workflow started
   * directly, no schedule), with the job's retry policy, timeouts, breaker and fallback, and
   * returns its outcome: `status` (`succeeded`, `failed`, `degraded`), `attempts`, `result` or
   * `error`, `fallback`, timings.
   * @throws TypeError for a job id the environment was not given, or args for a job without code.
   */
  runJob(jobId: string, options?: RunJobOptions): Promise<RunOutcome>;
  /** A breaker's state (with the key as the jobs declare it), or undefined before a run used it. */
  breaker(key: string): Promise<BreakerView | undefined>;
  /** Stops the worker (running attempts get 2 s), closes the connections, then stops the dev server it started. */
  stop(): Promise<void>;
}

/**
 * Breaker entities are per key in a namespace: an environment's keys get a suffix of their own,
 * so that tests, and a Sundial on the same server, do not share a breaker or its cache.
 */
const scopedKey = (key: string, scope: string): string => `${key}~${scope}`;

/** The run input under the environment's clock and breaker scope. */
function adapt(run: JobRunInput, timeScale: number, scope: string): JobRunInput {
  const scale = (ms: number): number => Math.max(1, Math.round(ms * timeScale));
  const { maximumIntervalMs } = run.retry;
  return {
    ...run,
    retry: {
      ...run.retry,
      initialIntervalMs: scale(run.retry.initialIntervalMs),
      ...(maximumIntervalMs === undefined ? {} : { maximumIntervalMs: scale(maximumIntervalMs) }),
    },
    ...(run.breaker === undefined
      ? {}
      : {
          breaker: {
            key: scopedKey(run.breaker.key, scope),
            config: {
              ...run.breaker.config,
              openForMs: scale(run.breaker.config.openForMs),
              maxOpenForMs: scale(run.breaker.config.maxOpenForMs),
            },
          },
        }),
  };
}

/**
 * Starts a test environment for jobs: a real Temporal server (an existing one, or a dev server
 * of its own) and a Sundial worker serving `jobs`, so that a test runs a whole job (retries,
 * breaker, fallback) as production would. Stop it with `stop()`.
 * @throws JobDefinitionError when a job is invalid; RangeError for a `timeScale` that is not a positive number;
 * TemporalCliUnavailableError when it must start a dev server and finds no Temporal CLI.
 */
export async function createTestEnvironment(options: TestEnvironmentOptions): Promise<TestEnvironment> {
  const timeScale = options.timeScale ?? 1;
  if (!(Number.isFinite(timeScale) && timeScale > 0))
    throw new RangeError(`timeScale must be a positive number, not ${String(timeScale)}`);
  const registry = JobRegistry.create([...options.jobs]);
  const namespace = options.namespace ?? 'default';
  const logger = options.logger ?? createLogger(process.env.LOG_LEVEL ?? 'error');
  const scope = `test-${randomUUID().slice(0, 8)}`;
  const taskQueue = `sundial-${scope}`;
  installRuntime(logger);

  const cleanup: Array<() => Promise<void>> = [];
  const stop = async (): Promise<void> => {
    for (const step of cleanup.splice(0).reverse()) await step();
  };
  try {
    let address = options.address;
    if (address === undefined) {
      const cliPath = options.temporalCli ?? (await ensureTemporalCli((line) => logger.info(line))).path;
      const server: DevServer = await startDevServer({
        cliPath,
        dataDir: undefined,
        port: await freePort(),
        uiPort: undefined,
        namespace,
        logger,
      });
      cleanup.push(() => server.stop());
      address = server.address;
    }
    const connection = await Connection.connect({ address });
    cleanup.push(() => connection.close());
    const client = new Client({ connection, namespace });
    // A dev server started here has them already; an existing server may not.
    if (options.address !== undefined) await ensureSearchAttributes(client, namespace, logger);
    const native = await NativeConnection.connect({ address });
    cleanup.push(() => native.close());
    const secrets = options.secrets instanceof Map ? options.secrets : new Map(Object.entries(options.secrets ?? {}));
    const worker: RunningWorker = await startWorker({
      connection: native,
      namespace,
      taskQueue,
      registry,
      logger,
      shutdownGraceMs: 2_000,
      egress: options.egress ?? withLoopback(PUBLIC_ONLY),
      secrets,
      ...(options.workflowsPath === undefined ? {} : { workflowsPath: options.workflowsPath }),
    });
    cleanup.push(() => worker.stop());
    const breakers = new BreakerStore(client);

    return {
      address,
      namespace,
      taskQueue,
      client,
      async runJob(jobId, runOptions = {}) {
        const job = registry.get(jobId);
        if (job === undefined)
          throw new TypeError(
            `no job ${JSON.stringify(jobId)} in this test environment (it has ${registry.jobs.map((j) => j.spec.id).join(', ')})`,
          );
        let input = adapt(job.run, timeScale, scope);
        if ('args' in runOptions) {
          if (input.task.type !== 'code')
            throw new TypeError(`job ${JSON.stringify(jobId)} is an HTTP job: it takes no args`);
          input = { ...input, task: { ...input.task, args: runOptions.args } };
        }
        return runJobWorkflow(client, input, {
          taskQueue,
          workflowId: runOptions.workflowId ?? `${jobId}-test-${randomUUID()}`,
        });
      },
      async breaker(key) {
        const view = await breakers.find(scopedKey(key, scope));
        return view === undefined ? undefined : { ...view, key };
      },
      async stop() {
        // Breaker entities run until terminated: end this environment's ones.
        const keys = new Set(
          registry.jobs.flatMap((j) => (j.run.breaker === undefined ? [] : [scopedKey(j.run.breaker.key, scope)])),
        );
        await Promise.all(
          [...keys].map((k) =>
            client.workflow
              .getHandle(breakerWorkflowId(k))
              .terminate('test environment stopped')
              .catch(() => undefined),
          ),
        );
        await stop();
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
