/**
 * `npm run worker`: one stateless worker on an existing cluster (TEMPORAL_ADDRESS, or the
 * embedded default's address). Run as many as you like. It also reconciles the code-defined
 * schedules at start-up, which is safe from any number of processes at once.
 */
import { reconcileSchedules } from '../schedules/reconcile';
import { connectClient, connectWorker } from '../temporal/connection';
import { ensureSearchAttributes } from '../temporal/register-search-attributes';
import { createSundialWorker } from '../worker/worker';
import { buildRegistry, configuredApiUrl } from './jobs';
import { configOrExit, failStartup, onShutdownSignal } from './process';

const { config, logger } = configOrExit();

async function main(): Promise<void> {
  const address = config.temporal.address ?? `127.0.0.1:${config.embedded.temporalPort}`;
  const registry = buildRegistry(config, configuredApiUrl(config));
  const client = await connectClient(config.temporal, address);
  await ensureSearchAttributes(client, config.temporal.namespace, logger);
  const report = await reconcileSchedules({ client, registry, taskQueue: config.temporal.taskQueue, logger, pruneOrphans: config.pruneOrphans });
  logger.info(report, 'schedules reconciled');
  await client.connection.close();

  const connection = await connectWorker(config.temporal, address, logger);
  const worker = await createSundialWorker({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    registry,
    logger,
    shutdownGraceMs: config.shutdownGraceMs,
  });
  const done = worker.run();
  onShutdownSignal(logger, async () => {
    worker.shutdown();
    await done;
    await connection.close();
  });
  logger.info({ temporal: address, task_queue: config.temporal.taskQueue, jobs: registry.jobs.map((j) => j.spec.id) }, 'worker running');
  await done;
}

main().catch((err: unknown) => failStartup(logger, err));
