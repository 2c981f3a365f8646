import { ConfigError, loadConfig, type Config, type ProcessRole } from '../config/env';
import { createLogger, defaultLogFormat, type Logger } from '../observability/logger';

/** Loads the configuration or exits with status 2 and a message naming the bad variable. */
export function configOrExit(role: ProcessRole = 'api'): { config: Config; logger: Logger } {
  try {
    const config = loadConfig(process.env, role);
    return { config, logger: createLogger(config.logLevel, undefined, config.logFormat ?? defaultLogFormat()) };
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
 * Signals closer together than this are one request to stop. A Ctrl-C in a terminal reaches
 * every process of the foreground group, and `npm start` forwards it to its child again: one
 * keypress arrives here as two SIGINTs a few milliseconds apart.
 */
export const SIGNAL_COALESCE_MS = 1_000;

/** What {@link onShutdownSignal} does besides the graceful stop. */
export interface ShutdownOptions {
  /**
   * Runs on a second, separate signal (an operator who will not wait for the drain), before
   * the process exits 130. It must stop what would outlive the process (a detached child
   * server) without waiting on anything else.
   */
  readonly force?: () => Promise<void>;
  /** @default SIGNAL_COALESCE_MS */
  readonly coalesceMs?: number;
}

/**
 * Runs `shutdown` once on the first SIGINT or SIGTERM, then exits 0 (1 if shutdown throws).
 * Signals within `coalesceMs` of the first are the same request; a later one runs `force`
 * and exits 130.
 */
export function onShutdownSignal(
  logger: Logger,
  shutdown: (signal: NodeJS.Signals) => Promise<void>,
  options: ShutdownOptions = {},
): void {
  const coalesceMs = options.coalesceMs ?? SIGNAL_COALESCE_MS;
  let firstAt: number | undefined;
  let forcing = false;
  const handler = (signal: NodeJS.Signals) => {
    if (firstAt !== undefined) {
      if (Date.now() - firstAt < coalesceMs || forcing) {
        logger.debug({ signal }, 'signal while stopping: the same request to stop');
        return;
      }
      forcing = true;
      logger.warn({ signal }, 'second signal: stopping now, without waiting for the drain');
      const force = options.force ?? (() => Promise.resolve());
      force().then(
        () => process.exit(130),
        () => process.exit(130),
      );
      return;
    }
    firstAt = Date.now();
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
