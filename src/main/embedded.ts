/**
 * `npm start` / `sundial dev`: the embedded default. A Temporal dev server on a SQLite file in
 * SUNDIAL_DATA_DIR, one worker, the API, and the example (or configured) jobs scheduled.
 * Ctrl-C stops the API, drains the worker, then stops the dev server; exit code 0. A second
 * Ctrl-C (a separate keypress, not npm's forward of the first) stops the dev server at once; 130.
 */
import path from 'node:path';
import { createApp } from '../api/app';
import { startApi } from '../api/server';
import { reconcileSchedules, reconcileSummary } from '../schedules/reconcile';
import { ensureTemporalCli } from '../temporal/cli';
import { connectClient } from '../temporal/connection';
import { ensureSearchAttributes } from '../temporal/register-search-attributes';
import { startDevServer } from '../temporal/dev-server';
import { buildRegistry, configuredApiUrl } from './jobs';
import { runWorker } from './run-worker';
import { createMetrics, createNotificationMetrics } from '../observability/metrics';
import { startJobMetricsCollector } from '../observability/temporal-collector';
import { configOrExit, failStartup, onShutdownSignal } from './process';
import { EMBEDDED_SDK_METRICS_ADDRESS, sdkMetricsAddress, type Config } from '../config/env';
import { withLoopback } from '../egress/policy';
import type { Logger } from '../observability/logger';
import type { JobRegistry } from '../jobs/registry';

/** What has started so far, stopped in this order: the API stops taking requests, the worker drains, the server goes last. */
export interface Running {
  api?: () => Promise<void>;
  worker?: () => Promise<void>;
  client?: () => Promise<void>;
  devServer?: () => Promise<void>;
  /** The dev server's stop when the operator will not wait (a second Ctrl-C). */
  forceDevServer?: () => Promise<void>;
}

/** How long a forced stop gives the dev server before SIGKILL, in ms. */
const FORCED_STOP_GRACE_MS = 3_000;

export async function stopAll(running: Running): Promise<void> {
  for (const step of [running.api, running.worker, running.client, running.devServer]) {
    if (step !== undefined) await step();
  }
}

/**
 * Starts the embedded default: the dev server (unless TEMPORAL_ADDRESS names a cluster), the
 * API, the schedules of `registry` (default: the configured jobs module, else the examples) and
 * a worker. `running` is filled in as pieces start, for {@link stopAll}.
 */
export async function startEmbedded(
  running: Running,
  logger: Logger,
  configured: Config,
  registryOf: (config: Config) => JobRegistry = (c) => buildRegistry(c, configuredApiUrl(c)),
): Promise<void> {
  // Everything runs on this machine, the example HTTP job calls this API: loopback is allowed.
  const config: Config = { ...configured, egress: withLoopback(configured.egress) };
  let addresses = config.temporal.addresses;
  let uiUrl = config.temporal.uiUrl;
  if (addresses === undefined) {
    const cli = await ensureTemporalCli((line) => logger.info(line));
    const dataDir = path.resolve(config.embedded.dataDir);
    logger.info({ cli: cli.path, source: cli.source, data_dir: dataDir }, 'starting the embedded Temporal dev server');
    const dev = await startDevServer({
      cliPath: cli.path,
      dataDir,
      port: config.embedded.temporalPort,
      uiPort: config.embedded.uiPort,
      // The UI decodes encrypted payloads through the API's codec endpoint.
      ...(config.temporal.codecKeys === undefined ? {} : { uiCodecEndpoint: `${configuredApiUrl(config)}/codec` }),
      namespace: config.temporal.namespace,
      logger,
    });
    let stopping = false;
    running.devServer = () => {
      stopping = true;
      return dev.stop();
    };
    running.forceDevServer = () => {
      stopping = true;
      return dev.stop(FORCED_STOP_GRACE_MS);
    };
    // Every other way out (a crash, an exit from a failure path) still stops the server, which
    // would otherwise hold its ports and the SQLite file: it is in a process group of its own.
    process.once('exit', () => dev.signalStop());
    // Without its server this process can do nothing: say so and exit, so that a supervisor
    // (systemd, a container's restart policy) starts it again on the same SQLite file, where
    // the schedules catch up what they missed.
    void dev.exited.then((exit) => {
      if (stopping) return;
      logger.fatal(
        { pid: dev.pid, exit },
        'the Temporal dev server exited unexpectedly; exiting too (restart Sundial to restart it)',
      );
      running.devServer = undefined;
      // The worker cannot drain against a dead server: stop taking requests, then go.
      const api = running.api;
      void Promise.race([api?.().catch(() => undefined), new Promise((r) => setTimeout(r, 2_000))]).finally(() =>
        process.exit(1),
      );
    });
    addresses = [dev.address];
    uiUrl ??= dev.uiUrl;
  }
  const client = await connectClient(config.temporal, addresses);
  running.client = () => client.connection.close();
  // The dev server registers them on its command line; an existing cluster may not have them.
  if (config.temporal.addresses !== undefined) await ensureSearchAttributes(client, config.temporal.namespace, logger);

  const registry = registryOf(config);
  const webUiUrl = uiUrl ?? `http://127.0.0.1:${config.embedded.uiPort}`;
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
  if (config.api.keys.length === 0)
    logger.warn(
      { host: config.api.host },
      'the API is open: no SUNDIAL_API_KEYS are set, so it listens on loopback only',
    );
  const api = await startApi(app, config.api.host, config.api.port);
  const collector = startJobMetricsCollector({
    client,
    registry: metrics.registry,
    logger,
    budget: { intervalMs: config.metrics.collectorIntervalMs },
  });
  running.api = async () => {
    await api.stop();
    await collector.stop();
  };

  const report = await reconcileSchedules({
    client,
    registry,
    taskQueue: config.temporal.taskQueue,
    logger,
    pruneOrphans: config.pruneOrphans,
  });
  logger.info(reconcileSummary(report), 'schedules reconciled');

  const sdkMetrics = sdkMetricsAddress(config, EMBEDDED_SDK_METRICS_ADDRESS);
  // One process: the worker's notification deliveries are counted on the API's /metrics.
  const worker = await runWorker(config, addresses, registry, logger, sdkMetrics, {
    webUiUrl,
    metrics: createNotificationMetrics(metrics.registry),
  });
  running.worker = () => worker.stop();
  worker.done.catch(async (err: unknown) => {
    logger.fatal({ error_type: (err as Error).name, error_msg: (err as Error).message }, 'worker stopped unexpectedly');
    running.worker = undefined;
    await stopAll(running).catch(() => undefined);
    process.exit(1);
  });

  const webUi =
    uiUrl === undefined ? undefined : `${uiUrl}/namespaces/${encodeURIComponent(config.temporal.namespace)}/schedules`;
  const sdkMetricsUrl = sdkMetrics === undefined ? undefined : `http://${sdkMetrics}/metrics`;
  logger.info(
    {
      api: api.url,
      metrics: `${api.url}/metrics`,
      sdk_metrics: sdkMetricsUrl,
      temporal: addresses.join(','),
      web_ui: webUi,
      jobs: registry.jobs.map((j) => j.spec.id),
    },
    'Sundial is up',
  );
  process.stderr.write(
    `\n  Sundial is running.\n  API:             ${api.url}  (GET /healthz, /readyz)\n` +
      `  Temporal Web UI: ${webUi ?? '(not available: set TEMPORAL_UI_URL)'}\n  Temporal:        ${addresses.join(',')}\n  Press Ctrl-C to stop.\n\n`,
  );
}

/** The embedded process (`npm start`, `sundial dev`): configuration from the environment, signals, exit codes. */
export function runEmbeddedProcess(): void {
  const { config, logger } = configOrExit();
  const running: Running = {};
  // A signal during start-up still stops whatever has started. A second Ctrl-C skips the drain
  // but not the dev server's stop.
  onShutdownSignal(logger, () => stopAll(running), { force: () => running.forceDevServer?.() ?? Promise.resolve() });
  startEmbedded(running, logger, config).catch(async (err: unknown) => {
    await stopAll(running).catch(() => undefined);
    failStartup(logger, err);
  });
}

if (require.main === module) runEmbeddedProcess();
