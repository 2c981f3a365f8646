/**
 * `npm run api` / `sundial api`: the REST API on an existing cluster. Stateless: run as many
 * replicas as you like.
 */
import type { Express } from 'express';
import { createApp } from '../api/app';
import { startApi as listen, type RunningApi } from '../api/server';
import type { Config } from '../config/env';
import type { JobRegistry } from '../jobs/registry';
import type { Logger } from '../observability/logger';
import { createMetrics } from '../observability/metrics';
import { startJobMetricsCollector } from '../observability/temporal-collector';
import { connectClient } from '../temporal/connection';
import { buildRegistry, configuredApiUrl } from './jobs';
import { configOrExit, failStartup, onShutdownSignal } from './process';

/** The API's Express app over a live Temporal client, with its job-metrics collector. */
export interface ApiService {
  readonly app: Express;
  /** Stops the collector and closes the Temporal connection (not an HTTP server: see {@link startApiServer}). */
  close(): Promise<void>;
}

/**
 * Connects to Temporal and builds the API's app (routes under /api/v1, /healthz, /readyz,
 * /metrics, /openapi.json), ready to listen or to be mounted in another Express app.
 * @throws TemporalUnavailableError when Temporal does not answer within the connect timeout.
 */
export async function createApiService(config: Config, logger: Logger, registry: JobRegistry): Promise<ApiService> {
  const addresses = config.temporal.addresses ?? [`127.0.0.1:${config.embedded.temporalPort}`];
  const client = await connectClient(config.temporal, addresses);
  const webUiUrl = config.temporal.uiUrl ?? `http://127.0.0.1:${config.embedded.uiPort}`;
  const metrics = createMetrics();
  const app = createApp({
    client,
    logger,
    registry,
    taskQueue: config.temporal.taskQueue,
    webUiUrl,
    apiKeys: config.api.keys,
    temporalTimeoutMs: config.api.temporalTimeoutMs,
    metrics,
    egress: config.egress,
  });
  const collector = startJobMetricsCollector({
    client,
    registry: metrics.registry,
    logger,
    budget: { intervalMs: config.metrics.collectorIntervalMs },
  });
  return {
    app,
    async close() {
      await collector.stop();
      await client.connection.close();
    },
  };
}

/** What an API process has started so far. */
export interface ApiParts {
  service?: ApiService;
  server?: RunningApi;
}

/** Stops taking requests, then the collector and the connection. Safe at any point of the start-up. */
export async function stopApiServer(parts: ApiParts): Promise<void> {
  await parts.server?.stop();
  await parts.service?.close();
}

/** Connects, builds the app and listens on the configured host and port. */
export async function startApiServer(
  config: Config,
  logger: Logger,
  registry: JobRegistry,
  parts: ApiParts = {},
): Promise<RunningApi> {
  parts.service = await createApiService(config, logger, registry);
  if (config.api.keys.length === 0)
    logger.warn(
      { host: config.api.host },
      'the API is open: no SUNDIAL_API_KEYS are set, so it listens on loopback only',
    );
  const server = await listen(parts.service.app, config.api.host, config.api.port);
  parts.server = server;
  logger.info(
    {
      api: server.url,
      temporal: (config.temporal.addresses ?? [`127.0.0.1:${config.embedded.temporalPort}`]).join(','),
    },
    'API listening',
  );
  return server;
}

/** The API process: configuration from the environment (exit 2 when invalid), Ctrl-C/SIGTERM stop and exit 0. */
export function runApiProcess(): void {
  const { config, logger } = configOrExit();
  // Installed before start-up, as the worker does: a stop while still connecting is clean too.
  const parts: ApiParts = {};
  onShutdownSignal(logger, () => stopApiServer(parts));
  const main = () => startApiServer(config, logger, buildRegistry(config, configuredApiUrl(config)), parts);
  main().catch((err: unknown) => failStartup(logger, err));
}

if (require.main === module) runApiProcess();
