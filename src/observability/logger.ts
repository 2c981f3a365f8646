import pino, { type Logger } from 'pino';
import { scrubLogArgs } from '../secrets/resolve';

export type { Logger };

/**
 * Sundial's one logger: JSON lines on stdout, ready for Loki or ELK. `redact` is a last line of
 * defence: secrets are not passed to the logger in the first place.
 */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info', destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'sundial', pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    // Secret values an attempt resolved never reach a line, whoever logs them (src/secrets/resolve.ts).
    hooks: {
      logMethod(args, method) {
        method.apply(this, scrubLogArgs(args));
      },
    },
    redact: {
      paths: ['apiKey', '*.apiKey', 'headers.authorization', '*.headers.authorization', 'headers.Authorization', '*.headers.Authorization'],
      censor: '[redacted]',
    },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
