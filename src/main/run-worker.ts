import type { Config } from '../config/env';
import type { JobRegistry } from '../jobs/registry';
import type { Logger } from '../observability/logger';
import type { NotificationMetrics } from '../observability/metrics';
import { connectWorker } from '../temporal/connection';
import { followFrontends } from '../temporal/frontend-failover';
import { createSundialWorker } from '../worker/worker';

export interface RunningWorker {
  /** Settles when the worker has stopped. */
  readonly done: Promise<void>;
  /** The frontend it connected through first. */
  readonly address: string;
  /** Drains the worker (grace period, then cancellation) and closes its connection. */
  stop(): Promise<void>;
}

/**
 * Connects through the first of `addresses` that answers, creates and runs a worker with the
 * process's configuration. With more than one address, the worker follows the frontends
 * (src/temporal/frontend-failover.ts) when its own stops answering. `sdkMetricsAddress`: where
 * the Temporal SDK's Prometheus exporter listens (undefined: no exporter).
 */
export async function runWorker(
  config: Config,
  addresses: readonly string[],
  registry: JobRegistry,
  logger: Logger,
  sdkMetricsAddress?: string,
  notifications: { readonly webUiUrl?: string; readonly metrics?: NotificationMetrics } = {},
): Promise<RunningWorker> {
  const { connection, address } = await connectWorker(config.temporal, addresses, logger, sdkMetricsAddress);
  const worker = await createSundialWorker({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    registry,
    logger,
    shutdownGraceMs: config.shutdownGraceMs,
    maxCachedWorkflows: config.workflowCacheSize,
    egress: config.egress,
    codecKeys: config.temporal.codecKeys,
    secrets: config.secrets,
    ...(notifications.webUiUrl === undefined ? {} : { webUiUrl: notifications.webUiUrl }),
    ...(notifications.metrics === undefined ? {} : { notificationMetrics: notifications.metrics }),
    workflowsPath: config.workflowsModule,
  });
  const failover =
    addresses.length > 1
      ? followFrontends({ worker, connection, address, addresses, temporal: config.temporal, logger })
      : undefined;
  const done = worker.run();
  // However the worker ends, stop probing: a stopped worker has no connection to move.
  void done.finally(() => failover?.stop()).catch(() => undefined);
  return {
    done,
    address,
    async stop() {
      await failover?.stop();
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
      await (failover?.connection() ?? connection).close();
    },
  };
}
