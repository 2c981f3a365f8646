/**
 * `npm run worker` / `sundial worker`: one stateless worker on an existing cluster
 * (TEMPORAL_ADDRESS, or the embedded default's address). Run as many as you like. It also
 * reconciles the code-defined schedules at start-up, which is safe from any number of processes
 * at once.
 */
import type { Config } from '../config/env';
import { sdkMetricsAddress } from '../config/env';
import type { JobRegistry } from '../jobs/registry';
import type { Logger } from '../observability/logger';
import { createMetrics, createNotificationMetrics } from '../observability/metrics';
import { startMetricsServer } from '../observability/metrics-server';
import { reconcileSchedules, reconcileSummary } from '../schedules/reconcile';
import { connectClient } from '../temporal/connection';
import { ensureSearchAttributes } from '../temporal/register-search-attributes';
import { buildRegistry, configuredApiUrl } from './jobs';
import { configOrExit, failStartup, onShutdownSignal } from './process';
import { runWorker } from './run-worker';

/** What a worker process has started so far; {@link stopWorker} stops it in order. */
export interface WorkerParts {
  worker?: Awaited<ReturnType<typeof runWorker>>;
  metrics?: Awaited<ReturnType<typeof startMetricsServer>>;
}

/** Drains the worker, then stops its metrics server. Safe at any point of the start-up. */
export async function stopWorker(parts: WorkerParts): Promise<void> {
  await parts.worker?.stop();
  await parts.metrics?.stop();
}

/**
 * Reconciles the registry's schedules, then runs a worker (and its `/metrics` server when
 * configured) until stopped. `parts` is filled in as pieces start, so a stop requested during
 * start-up (a rolling deploy stopping a worker still bundling) stops what has started.
 * @returns once the worker runs; `parts.worker.done` settles when it stops.
 */
export async function startWorker(
  config: Config,
  logger: Logger,
  registry: JobRegistry,
  parts: WorkerParts = {},
): Promise<Required<Pick<WorkerParts, 'worker'>> & WorkerParts> {
  const addresses = config.temporal.addresses ?? [`127.0.0.1:${config.embedded.temporalPort}`];
  const client = await connectClient(config.temporal, addresses);
  try {
    await ensureSearchAttributes(client, config.temporal.namespace, logger);
    const report = await reconcileSchedules({
      client,
      registry,
      taskQueue: config.temporal.taskQueue,
      logger,
      pruneOrphans: config.pruneOrphans,
    });
    logger.info(reconcileSummary(report), 'schedules reconciled');
  } finally {
    await client.connection.close();
  }

  const registryOfMetrics = createMetrics().registry;
  parts.metrics =
    config.metrics.port === undefined ? undefined : await startMetricsServer(registryOfMetrics, config.metrics.port);
  const sdkMetrics = sdkMetricsAddress(config);
  const worker = await runWorker(config, addresses, registry, logger, sdkMetrics, {
    ...(config.temporal.uiUrl === undefined ? {} : { webUiUrl: config.temporal.uiUrl }),
    metrics: createNotificationMetrics(registryOfMetrics),
  });
  parts.worker = worker;
  logger.info(
    {
      temporal: worker.address,
      ...(addresses.length > 1 ? { frontends: addresses } : {}),
      task_queue: config.temporal.taskQueue,
      jobs: registry.jobs.map((j) => j.spec.id),
      metrics: parts.metrics?.url,
      sdk_metrics: sdkMetrics === undefined ? undefined : `http://${sdkMetrics}/metrics`,
    },
    'worker running',
  );
  return { ...parts, worker };
}

/**
 * The worker process: configuration from the environment (exit 2 when invalid), Ctrl-C/SIGTERM
 * drain and exit 0, a failed start-up exits 1.
 */
export function runWorkerProcess(): void {
  const { config, logger } = configOrExit('worker');
  // Installed before start-up: a supervisor may stop a worker that is still reconciling or
  // bundling, and such a stop is as clean as any other (exit 0). Nothing has been taken from a
  // task queue yet, and reconciliation is safe to cut short.
  const parts: WorkerParts = {};
  onShutdownSignal(logger, () => stopWorker(parts));
  const main = async () => {
    const registry = buildRegistry(config, configuredApiUrl(config));
    const { worker } = await startWorker(config, logger, registry, parts);
    await worker.done;
  };
  main().catch((err: unknown) => failStartup(logger, err));
}

if (require.main === module) runWorkerProcess();
