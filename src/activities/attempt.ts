import type { Context } from '@temporalio/activity';
import type { AttemptStamp } from '../jobs/run-types';

/**
 * What every attempt of a task carries in its heartbeats, result and failure details: its
 * number, and when the run's first attempt started. Temporal hands an attempt the previous
 * attempt's last heartbeat details, so the first start time travels from attempt to attempt
 * and the run's schedule lag can be measured to its first attempt even after retries.
 */
export function stampAttempt(ctx: Context, attempt: number): AttemptStamp {
  if (ctx.info.attempt === 1) return { attempt, firstStartedAt: new Date().toISOString() };
  const previous = ctx.info.heartbeatDetails as Partial<AttemptStamp> | undefined;
  return typeof previous?.firstStartedAt === 'string'
    ? { attempt, firstStartedAt: previous.firstStartedAt }
    : { attempt };
}
