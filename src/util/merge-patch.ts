/**
 * Applies an RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces.
 * Keys are copied as own data properties, never assigned: a `__proto__` key in a patch stays a
 * key (which validation then refuses) instead of replacing the result's prototype.
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const base: Record<string, unknown> =
    target !== null && typeof target === 'object' && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (value === null) delete base[key];
    else
      Object.defineProperty(base, key, {
        value: applyMergePatch(Object.hasOwn(base, key) ? base[key] : undefined, value),
        enumerable: true,
        writable: true,
        configurable: true,
      });
  }
  return base;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * The RFC 7386 merge patch that turns `before` into `after` (so that
 * `applyMergePatch(before, createMergePatch(before, after))` equals `after`): changed keys with
 * their new values, removed keys as null, nested objects as nested patches; arrays and other
 * values are replaced whole. Undefined when nothing changed. A value that is itself null in
 * `after` cannot be told from a deletion: merge patches cannot express it (JobSpecs hold no nulls).
 */
export function createMergePatch(before: unknown, after: unknown): unknown {
  if (!isPlainObject(before) || !isPlainObject(after))
    return JSON.stringify(before) === JSON.stringify(after) ? undefined : after;
  const patch: Record<string, unknown> = {};
  for (const key of Object.keys(before)) {
    if (!Object.hasOwn(after, key) || after[key] === undefined) {
      if (before[key] !== undefined)
        Object.defineProperty(patch, key, { value: null, enumerable: true, writable: true, configurable: true });
    }
  }
  for (const [key, value] of Object.entries(after)) {
    if (value === undefined) continue;
    const sub = Object.hasOwn(before, key) && before[key] !== undefined ? createMergePatch(before[key], value) : value;
    if (sub !== undefined)
      Object.defineProperty(patch, key, { value: sub, enumerable: true, writable: true, configurable: true });
  }
  return Object.keys(patch).length === 0 ? undefined : patch;
}
