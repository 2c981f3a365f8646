import type { Config } from '../config/env';
import type { JobRegistry } from '../jobs/registry';
import type { Logger } from '../observability/logger';
import { connectWorker } from '../temporal/connection';
import { createSundialWorker } from '../worker/worker';

export interface RunningWorker {
  /** Settles when the worker has stopped. */
  readonly done: Promise<void>;
  /** Drains the worker (grace period, then cancellation) and closes its connection. */
  stop(): Promise<void>;
}

/**
 * Connects, creates and runs a worker with the process's configuration. `sdkMetricsAddress`:
 * where the Temporal SDK's Prometheus exporter listens (undefined: no exporter).
 */
export async function runWorker(config: Config, address: string, registry: JobRegistry, logger: Logger, sdkMetricsAddress?: string): Promise<RunningWorker> {
  const connection = await connectWorker(config.temporal, address, logger, sdkMetricsAddress);
  const worker = await createSundialWorker({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    registry,
    logger,
    shutdownGraceMs: config.shutdownGraceMs,
  });
  const done = worker.run();
  return {
    done,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
      await connection.close();
    },
  };
}
