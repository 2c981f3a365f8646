/**
 * `npm run worker`: one stateless worker on an existing cluster (TEMPORAL_ADDRESS, or the
 * embedded default's address). Run as many as you like. It also reconciles the code-defined
 * schedules at start-up, which is safe from any number of processes at once.
 */
import { reconcileSchedules, reconcileSummary } from '../schedules/reconcile';
import { connectClient } from '../temporal/connection';
import { ensureSearchAttributes } from '../temporal/register-search-attributes';
import { buildRegistry, configuredApiUrl } from './jobs';
import { runWorker } from './run-worker';
import { configOrExit, failStartup, onShutdownSignal } from './process';
import { sdkMetricsAddress } from '../config/env';
import { createMetrics, createNotificationMetrics } from '../observability/metrics';
import { startMetricsServer } from '../observability/metrics-server';

const { config, logger } = configOrExit('worker');

async function main(): Promise<void> {
  // Installed before start-up: a supervisor (or a rolling deploy) may stop a worker that is
  // still reconciling or bundling, and such a stop is as clean as any other (exit 0). Nothing
  // has been taken from a task queue yet, and reconciliation is safe to cut short.
  let worker: Awaited<ReturnType<typeof runWorker>> | undefined;
  let metrics: Awaited<ReturnType<typeof startMetricsServer>> | undefined;
  onShutdownSignal(logger, async () => {
    await worker?.stop();
    await metrics?.stop();
  });
  const addresses = config.temporal.addresses ?? [`127.0.0.1:${config.embedded.temporalPort}`];
  const registry = buildRegistry(config, configuredApiUrl(config));
  const client = await connectClient(config.temporal, addresses);
  await ensureSearchAttributes(client, config.temporal.namespace, logger);
  const report = await reconcileSchedules({ client, registry, taskQueue: config.temporal.taskQueue, logger, pruneOrphans: config.pruneOrphans });
  logger.info(reconcileSummary(report), 'schedules reconciled');
  await client.connection.close();

  const registryOfMetrics = createMetrics().registry;
  metrics = config.metrics.port === undefined ? undefined : await startMetricsServer(registryOfMetrics, config.metrics.port);
  const sdkMetrics = sdkMetricsAddress(config);
  worker = await runWorker(config, addresses, registry, logger, sdkMetrics, {
    ...(config.temporal.uiUrl === undefined ? {} : { webUiUrl: config.temporal.uiUrl }),
    metrics: createNotificationMetrics(registryOfMetrics),
  });
  logger.info(
    {
      temporal: worker.address,
      ...(addresses.length > 1 ? { frontends: addresses } : {}),
      task_queue: config.temporal.taskQueue,
      jobs: registry.jobs.map((j) => j.spec.id),
      metrics: metrics?.url,
      sdk_metrics: sdkMetrics === undefined ? undefined : `http://${sdkMetrics}/metrics`,
    },
    'worker running',
  );
  await worker.done;
}

main().catch((err: unknown) => failStartup(logger, err));
