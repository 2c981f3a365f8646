import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import { LOG_FORMATS, type LogFormat } from '../config/env';
import { scrubLogArgs } from '../secrets/resolve';

export type { Logger, LogFormat };

/**
 * `LOG_FORMAT` when it names a format (src/config/env.ts refuses any other value at start-up),
 * else pretty when stdout is a terminal, JSON lines when it is a pipe or a file (a log shipper,
 * `| jq`, a test).
 */
export function defaultLogFormat(
  env: NodeJS.ProcessEnv = process.env,
  stdout: { readonly isTTY?: boolean } = process.stdout,
): LogFormat {
  const configured = LOG_FORMATS.find((f) => f === env.LOG_FORMAT);
  if (configured !== undefined) return configured;
  return stdout.isTTY === true ? 'pretty' : 'json';
}

/**
 * Sundial's one logger: JSON lines ready for Loki or ELK, or, with `format: 'pretty'`, one
 * colourised line per event (colours only on a terminal that supports them; NO_COLOR is
 * honoured). Redaction and the scrubbing of secret values happen before either format is
 * written. `redact` is a last line of defence: secrets are not passed to the logger in the
 * first place.
 * @param level pino level. @default LOG_LEVEL, else 'info'
 * @param destination where lines go. @default stdout
 * @param format @default {@link defaultLogFormat} on stdout, `json` into a given destination
 */
export function createLogger(
  level: string = process.env.LOG_LEVEL ?? 'info',
  destination?: pino.DestinationStream,
  format?: LogFormat,
): Logger {
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
      paths: [
        'apiKey',
        '*.apiKey',
        'headers.authorization',
        '*.headers.authorization',
        'headers.Authorization',
        '*.headers.Authorization',
      ],
      censor: '[redacted]',
    },
  };
  if ((format ?? (destination === undefined ? defaultLogFormat() : 'json')) === 'pretty')
    return pino(options, prettyStream(destination));
  return destination === undefined ? pino(options) : pino(options, destination);
}

/**
 * pino-pretty in this thread, synchronous: no transport worker thread, and a line logged just
 * before `process.exit` (e.g. "stopped") is written, as with JSON lines on stdout.
 */
function prettyStream(destination: pino.DestinationStream | undefined): pino.DestinationStream {
  return pretty({
    sync: true,
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,service',
    // Colours on stdout when it supports them (pino-pretty's own check); never into another stream.
    ...(destination === undefined ? {} : { destination, colorize: false }),
  });
}
