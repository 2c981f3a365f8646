/**
 * `npm run api`: the REST API on an existing cluster. Stateless: run as many replicas as you like.
 */
import { createApp } from '../api/app';
import { startApi } from '../api/server';
import { connectClient } from '../temporal/connection';
import { buildRegistry, configuredApiUrl } from './jobs';
import { createMetrics } from '../observability/metrics';
import { startJobMetricsCollector } from '../observability/temporal-collector';
import { configOrExit, failStartup, onShutdownSignal } from './process';

const { config, logger } = configOrExit();

async function main(): Promise<void> {
  // Installed before start-up, as the worker does: a stop while still connecting is clean too.
  let client: Awaited<ReturnType<typeof connectClient>> | undefined;
  let api: Awaited<ReturnType<typeof startApi>> | undefined;
  let collector: ReturnType<typeof startJobMetricsCollector> | undefined;
  onShutdownSignal(logger, async () => {
    await api?.stop();
    await collector?.stop();
    await client?.connection.close();
  });
  const addresses = config.temporal.addresses ?? [`127.0.0.1:${config.embedded.temporalPort}`];
  const registry = buildRegistry(config, configuredApiUrl(config));
  client = await connectClient(config.temporal, addresses);
  const webUiUrl = config.temporal.uiUrl ?? `http://127.0.0.1:${config.embedded.uiPort}`;
  const metrics = createMetrics();
  const app = createApp({ client, logger, registry, taskQueue: config.temporal.taskQueue, webUiUrl, apiKeys: config.api.keys, metrics, egress: config.egress });
  if (config.api.keys.length === 0) logger.warn({ host: config.api.host }, 'the API is open: no SUNDIAL_API_KEYS are set, so it listens on loopback only');
  api = await startApi(app, config.api.host, config.api.port);
  collector = startJobMetricsCollector({ client, registry: metrics.registry, logger, budget: { intervalMs: config.metrics.collectorIntervalMs } });
  logger.info({ api: api.url, temporal: addresses.join(',') }, 'API listening');
}

main().catch((err: unknown) => failStartup(logger, err));
