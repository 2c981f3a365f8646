import { DefaultLogger, makeTelemetryFilterString, Runtime, type LogLevel } from '@temporalio/worker';
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
 * shutdown we do not order).
 */
export function installRuntime(logger: Logger): void {
  if (installed) return;
  installed = true;
  const sdkLogger = logger.child({ component: 'temporal' });
  Runtime.install({
    logger: new DefaultLogger('INFO', (entry) => {
      const { sdkComponent, workflowId, runId, workflowRunId, taskToken: _opaque, ...meta } = (entry.meta ?? {}) as Record<string, unknown>;
      // Sundial logs every failed attempt and run itself, with the run's fields; the SDK's copies are noise.
      const level = entry.message === 'Activity failed' || entry.message === 'Workflow failed' ? 'debug' : PINO_LEVEL[entry.level];
      sdkLogger[level](
        { ...meta, workflow_id: workflowId, run_id: runId ?? workflowRunId, sdk_component: sdkComponent },
        entry.message,
      );
    }),
    telemetryOptions: {
      logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN', other: 'ERROR' }) },
    },
    shutdownSignals: [],
  });
}
