/**
 * The breaker entity's fallback cache, bounded in total: it travels in the continue-as-new input,
 * which the server refuses over its payload limit (2 MB by default). An unbounded cache (64 KiB
 * per job, any number of jobs on one key) would get the entity terminated, losing its state.
 * Pure: the workflow passes the sizes in.
 */
import type { CachedResult } from './contract';

/** The cache's total, in JSON characters of the results: half the server's default payload limit. */
export const MAX_CACHE_TOTAL_CHARS = 1024 * 1024;

/**
 * The job ids to evict so that the entries' total size is at most `max`: the oldest
 * (`cachedAt`) first; ties by job id, so that the choice is deterministic.
 */
export function evictions(
  cache: Readonly<Record<string, CachedResult>>,
  sizeOf: (jobId: string) => number,
  max = MAX_CACHE_TOTAL_CHARS,
): string[] {
  const ids = Object.keys(cache);
  let total = ids.reduce((n, id) => n + sizeOf(id), 0);
  if (total <= max) return [];
  const oldestFirst = ids.sort((a, b) => cache[a]!.cachedAt.localeCompare(cache[b]!.cachedAt) || a.localeCompare(b));
  const evicted: string[] = [];
  for (const id of oldestFirst) {
    if (total <= max) break;
    total -= sizeOf(id);
    evicted.push(id);
  }
  return evicted;
}
