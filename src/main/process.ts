import { ConfigError, loadConfig, type Config, type ProcessRole } from '../config/env';
import { createLogger, type Logger } from '../observability/logger';

/** Loads the configuration or exits with status 2 and a message naming the bad variable. */
export function configOrExit(role: ProcessRole = 'api'): { config: Config; logger: Logger } {
  try {
    const config = loadConfig(process.env, role);
    return { config, logger: createLogger(config.logLevel) };
  } catch (err) {
    const logger = createLogger('info');
    if (err instanceof ConfigError) {
      logger.fatal({ variable: err.variable }, `invalid configuration: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
}

/**
 * Runs `shutdown` once on the first SIGINT or SIGTERM, then exits 0 (1 if shutdown throws).
 * A second signal exits at once with 130.
 */
export function onShutdownSignal(logger: Logger, shutdown: (signal: NodeJS.Signals) => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    shutdown(signal).then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

/** Logs a start-up failure with its message (never a secret) and exits 1. */
export function failStartup(logger: Logger, err: unknown): never {
  const e = err as Error;
  logger.fatal({ error_type: e?.name, error_msg: e?.message }, `start-up failed: ${e?.message ?? String(err)}`);
  process.exit(1);
}
