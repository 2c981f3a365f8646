import { AsyncLocalStorage } from 'node:async_hooks';
import { NonRetryableJobError } from '../jobs/errors';
import { findSecretRefs, REDACTED, replaceSecretRefs, type SecretRef } from './reference';

/** The error types a secret reference fails a run with (for `nonRetryableErrorTypes` and dashboards). */
export const SecretErrorType = {
  /** The worker has no value for the name: neither SUNDIAL_SECRET_<NAME> nor SUNDIAL_SECRETS_FILE holds it. */
  Missing: 'SecretMissing',
  /** The value cannot be sent where it is referenced (a header value with a line break or NUL). */
  Invalid: 'SecretInvalid',
} as const;

/** A reference names a secret the worker does not have. Not retried: configuration, not a glitch. */
export class SecretMissingError extends NonRetryableJobError {
  constructor(readonly secretName: string) {
    super(
      `secret ${secretName} is not configured on this worker (set SUNDIAL_SECRET_${secretName} or add it to SUNDIAL_SECRETS_FILE)`,
    );
    this.name = SecretErrorType.Missing;
  }
}

/** A secret's value cannot be used where it is referenced. The message names the secret, never the value. */
export class SecretInvalidError extends NonRetryableJobError {
  constructor(
    readonly secretName: string,
    readonly problem: string,
  ) {
    super(`secret ${secretName} ${problem}`);
    this.name = SecretErrorType.Invalid;
  }
}

function lookup(secrets: ReadonlyMap<string, string>, name: string): string {
  const value = secrets.get(name);
  if (value === undefined) throw new SecretMissingError(name);
  return value;
}

/**
 * An HTTP request's headers with their secret references replaced by the values. A value
 * fetch would refuse (it would echo the value in its error) is refused here, by name.
 * @throws SecretMissingError, SecretInvalidError
 */
export function resolveHeaders(
  headers: Readonly<Record<string, string | SecretRef>>,
  secrets: ReadonlyMap<string, string>,
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).map(([name, value]) => {
      if (typeof value === 'string') return [name, value];
      const resolved = lookup(secrets, value.secret);
      if (/[\r\n\0]/.test(resolved))
        throw new SecretInvalidError(
          value.secret,
          `cannot be sent as header ${name}: it holds a line break or NUL (a trailing newline in its file?)`,
        );
      return [name, resolved];
    }),
  );
}

/**
 * A code job's args with their secret references replaced by the values.
 * @throws SecretMissingError
 */
export function resolveArgs(args: unknown, secrets: ReadonlyMap<string, string>): unknown {
  return findSecretRefs(args).length === 0 ? args : replaceSecretRefs(args, (name) => lookup(secrets, name));
}

/** Secrets shorter than this are not scrubbed from results: they would match ordinary text. */
const MIN_SCRUB_LENGTH = 4;

/** The values of the secrets `value` references that this worker has, to scrub from what an attempt returns. */
export function referencedValues(value: unknown, secrets: ReadonlyMap<string, string>): string[] {
  return findSecretRefs(value).flatMap((r) => {
    const v = secrets.get(r.name);
    return v !== undefined && v.length >= MIN_SCRUB_LENGTH ? [v] : [];
  });
}

function scrubText(text: string, values: readonly string[]): string {
  return values.reduce((t, v) => t.split(v).join(REDACTED), text);
}

/**
 * `value` with every occurrence of `values` in its strings (and keys) replaced by the redaction
 * marker: a server that echoes a request's Authorization header, or job code that returns what
 * it was given, must not carry the secret into Temporal.
 */
export function scrubValue(value: unknown, values: readonly string[]): unknown {
  if (values.length === 0) return value;
  if (typeof value === 'string') return scrubText(value, values);
  if (Array.isArray(value)) return value.map((v) => scrubValue(v, values));
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [scrubText(k, values), scrubValue(v, values)]),
    );
  }
  return value;
}

/** Scrubs an error's message and stack, and its cause's, in place (Temporal records both). */
export function scrubError(err: unknown, values: readonly string[]): unknown {
  if (values.length === 0) return err;
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    e.message = scrubText(e.message, values);
    if (e.stack !== undefined) e.stack = scrubText(e.stack, values);
  }
  return err;
}

/** The secret values of the attempt running in this async context, for the logger to scrub. */
const attemptSecrets = new AsyncLocalStorage<readonly string[]>();

/** Runs `fn` with `values` scrubbed from every log line it (and what it awaits) writes. */
export function scrubbingLogs<T>(values: readonly string[], fn: () => Promise<T>): Promise<T> {
  return values.length === 0 ? fn() : attemptSecrets.run(values, fn);
}

/**
 * A log call's arguments with the current attempt's secret values scrubbed (none outside an
 * attempt that resolved secrets): an error message quoting a server's answer, or job code
 * logging what it was given, must not carry a value into the logs.
 */
export function scrubLogArgs<A extends unknown[]>(args: A): A {
  const values = attemptSecrets.getStore();
  if (values === undefined) return args;
  return args.map((a) => (a instanceof Error ? scrubError(a, values) : scrubValue(a, values))) as A;
}
