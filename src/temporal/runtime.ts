import { DefaultLogger, makeTelemetryFilterString, Runtime, type LogLevel } from '@temporalio/worker';
import { ConfigError } from '../config/env';
import { RUN_LOG_FIELDS, RUN_LOG_MESSAGES } from '../jobs/run-types';
import type { Logger } from '../observability/logger';

let installed = false;

const PINO_LEVEL: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * Installs the Temporal runtime once per process: SDK, workflow and core logs go through our
 * pino logger, and the runtime leaves SIGINT/SIGTERM to us (its default handlers would start a
 * shutdown we do not order). With `sdkMetricsAddress` (host:port), the SDK's own metrics (polls,
 * task slots, schedule-to-start latencies) are served in Prometheus format at
 * `http://<address>/metrics`, durations in seconds.
 */
export function installRuntime(logger: Logger, sdkMetricsAddress?: string): void {
  if (installed) return;
  installed = true;
  const sdkLogger = logger.child({ component: 'temporal' });
  try {
    install(sdkLogger, sdkMetricsAddress);
  } catch (err) {
    if (sdkMetricsAddress === undefined) throw err;
    throw new ConfigError(
      'SUNDIAL_SDK_METRICS_ADDRESS',
      `cannot serve the SDK's metrics on ${sdkMetricsAddress}: ${(err as Error).message}`,
    );
  }
}

/**
 * The webpack statistics the SDK's bundler logs at INFO when a worker starts: some forty lines
 * of assets and modules, of use only when debugging the bundle. A failed build stays an error.
 */
export function isBundlerStats(entry: { readonly level: LogLevel; readonly message: string }): boolean {
  return entry.level === 'INFO' && /^webpack \S+ compiled\b/m.test(entry.message);
}

function install(sdkLogger: Logger, sdkMetricsAddress: string | undefined): void {
  Runtime.install({
    logger: new DefaultLogger('INFO', (entry) => {
      const {
        sdkComponent,
        workflowId,
        runId,
        workflowRunId,
        taskToken: _opaque,
        ...meta
      } = (entry.meta ?? {}) as Record<string, unknown>;
      // Sundial logs every failed attempt and run itself, with the run's fields; the SDK's copies are noise.
      const level =
        entry.message === 'Activity failed' || entry.message === 'Workflow failed' || isBundlerStats(entry)
          ? 'debug'
          : PINO_LEVEL[entry.level];
      const fields: Record<string, unknown> = {
        ...meta,
        workflow_id: workflowId,
        run_id: runId ?? workflowRunId,
        sdk_component: sdkComponent,
      };
      // The workflow logger drops null attributes; a run line gets its full field set back.
      if (RUN_LOG_MESSAGES.includes(entry.message)) for (const f of RUN_LOG_FIELDS) fields[f] ??= null;
      sdkLogger[level](fields, entry.message);
    }),
    telemetryOptions: {
      logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN', other: 'ERROR' }) },
      ...(sdkMetricsAddress === undefined
        ? {}
        : { metrics: { prometheus: { bindAddress: sdkMetricsAddress, useSecondsForDurations: true } } }),
    },
    shutdownSignals: [],
  });
}
