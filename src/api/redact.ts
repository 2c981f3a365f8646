import { redactHeaderMap } from '../secrets/redact';

/**
 * A spec as the API shows it: every plain HTTP header value replaced by "[redacted]", to every
 * caller whatever its key's role (header values are credentials more often than not; a secret
 * reference holds only a name and is shown as it is). A merge patch is applied to the stored
 * spec, never to this view, and the spec refuses "[redacted]" as a value, so the marker cannot
 * be written back by a read-modify-write.
 */
export function redactSpec<T>(spec: T): T {
  const task = (spec as { task?: { type?: unknown; headers?: unknown } } | null | undefined)?.task;
  if (task?.type !== 'http' || task.headers === null || typeof task.headers !== 'object') return spec;
  const headers = redactHeaderMap(task.headers as Record<string, unknown>);
  return { ...spec, task: { ...task, headers } };
}
