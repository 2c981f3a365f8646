/**
 * Secret references: `{ "secret": "NAME" }` in place of a string in an HTTP job's headers or a
 * code job's args. A spec holds only the name; the worker resolves it when an attempt runs
 * (./resolve), so the value is never written to Temporal nor returned by the API. Types and
 * pure functions only: the API, the spec and the worker share them.
 */

/** A secret's name: upper-case letters, digits and `_`, as environment variable names are. */
export const SECRET_NAME_PATTERN = /^[A-Z_][A-Z0-9_]{0,127}$/;

/** The environment variables that hold secrets: `SUNDIAL_SECRET_<NAME>`. */
export const SECRET_ENV_PREFIX = 'SUNDIAL_SECRET_';

/** What the API shows instead of a plain header value. A spec may not hold it as a value. */
export const REDACTED = '[redacted]';

export interface SecretRef {
  readonly secret: string;
}

/** True for exactly `{ secret: <string> }`: one key, a string value (the name is checked by the spec). */
export function isSecretRef(value: unknown): value is SecretRef {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && keys[0] === 'secret' && typeof (value as { secret: unknown }).secret === 'string';
}

/** Every secret reference in a value (any depth), with its path; for validation and resolution. */
export function findSecretRefs(
  value: unknown,
  path: readonly (string | number)[] = [],
): Array<{ path: (string | number)[]; name: string }> {
  if (isSecretRef(value)) return [{ path: [...path], name: value.secret }];
  if (Array.isArray(value)) return value.flatMap((v, i) => findSecretRefs(v, [...path, i]));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => findSecretRefs(v, [...path, k]));
  }
  return [];
}

/** `value` with every secret reference replaced by `replace(name)`; other values are copied as they are. */
export function replaceSecretRefs(value: unknown, replace: (name: string) => unknown): unknown {
  if (isSecretRef(value)) return replace(value.secret);
  if (Array.isArray(value)) return value.map((v) => replaceSecretRefs(v, replace));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, replaceSecretRefs(v, replace)]),
    );
  }
  return value;
}
