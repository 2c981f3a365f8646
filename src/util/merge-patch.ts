/**
 * Applies an RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces.
 * Keys are copied as own data properties, never assigned: a `__proto__` key in a patch stays a
 * key (which validation then refuses) instead of replacing the result's prototype.
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const base: Record<string, unknown> =
    target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (value === null) delete base[key];
    else Object.defineProperty(base, key, { value: applyMergePatch(Object.hasOwn(base, key) ? base[key] : undefined, value), enumerable: true, writable: true, configurable: true });
  }
  return base;
}
