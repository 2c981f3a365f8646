/**
 * Retry backoff as Sundial computes it, for both retry loops: Temporal's (the activity sets
 * each failure's next retry delay) and the workflow's own (breaker and multi-step jobs). Pure:
 * the random source is passed in (workflow code passes its deterministic `Math.random`).
 */
import type { RetryPlan } from './run-types';

/**
 * The fraction by which each retry delay is spread when a job does not say: 0.2 means each delay
 * is drawn from 80% to 120% of the backoff. Without it, every run that failed in the same outage
 * retries at the same instant, and again, in lockstep.
 */
export const DEFAULT_RETRY_JITTER = 0.2;

/** Temporal's default maximum interval: 100 times the initial one. */
const DEFAULT_MAX_INTERVAL_FACTOR = 100;

/** The delay before the retry that follows failed attempt `attempt` (1-based), in ms, without jitter. */
export function backoffMs(
  retry: Pick<RetryPlan, 'initialIntervalMs' | 'backoffCoefficient' | 'maximumIntervalMs'>,
  attempt: number,
): number {
  const cap = retry.maximumIntervalMs ?? retry.initialIntervalMs * DEFAULT_MAX_INTERVAL_FACTOR;
  return Math.min(retry.initialIntervalMs * retry.backoffCoefficient ** Math.max(0, attempt - 1), cap);
}

/**
 * `delayMs` spread uniformly over ±`jitter` of itself, in whole ms, at least 1.
 * @param random a number in [0, 1), e.g. `Math.random()`
 */
export function jitteredMs(delayMs: number, jitter: number, random: number): number {
  return Math.max(1, Math.round(delayMs * (1 + jitter * (2 * random - 1))));
}

/** The jittered delay after failed attempt `attempt` of `retry`. */
export function retryDelayMs(
  retry: Pick<RetryPlan, 'initialIntervalMs' | 'backoffCoefficient' | 'maximumIntervalMs' | 'jitter'>,
  attempt: number,
  random: number,
): number {
  return jitteredMs(backoffMs(retry, attempt), retry.jitter ?? DEFAULT_RETRY_JITTER, random);
}
