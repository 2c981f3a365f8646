import { REDACTED } from './reference';

/**
 * Header values as the API, the audit and a run's recorded overrides show them: every string
 * replaced by "[redacted]" (header values are credentials more often than not). A secret
 * reference (`{ "secret": NAME }`) holds only a name, and stays.
 */
export function redactHeaderMap(
  headers: Record<string, unknown>,
  inner: (v: unknown) => unknown = (v) => v,
): Record<string, unknown> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, typeof v === 'string' ? REDACTED : inner(v)]));
}

/** `value` with every `headers` object in it (at any depth) redacted as {@link redactHeaderMap} does. */
export function redactHeaderValues(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactHeaderValues);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const redacted =
      k === 'headers' && v !== null && typeof v === 'object' && !Array.isArray(v)
        ? redactHeaderMap(v as Record<string, unknown>, redactHeaderValues)
        : redactHeaderValues(v);
    // defineProperty: a key named __proto__ stays a key.
    Object.defineProperty(out, k, { value: redacted, enumerable: true, writable: true, configurable: true });
  }
  return out;
}
