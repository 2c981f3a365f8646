import { setTimeout as delay } from 'node:timers/promises';
// The shipped examples are written as a user's jobs module is: against the public API only.
import { defineJob, RetryableJobError, type DefinedJob } from '../public';

/**
 * The jobs the embedded default schedules, so something visibly runs in the first minute.
 * `apiUrl` is Sundial's own API, which the HTTP example checks.
 */
export function exampleJobs(apiUrl: string): DefinedJob[] {
  return [
    defineJob({
      id: 'example-backup',
      description: 'A simulated backup: 20 chunks over ~20 s, heartbeating after each, cancellable, resumable.',
      schedule: { intervals: [{ every: '1m' }] },
      policies: { overlap: 'skip' },
      retry: { initialInterval: '5s', backoffCoefficient: 2, maximumAttempts: 5 },
      timeouts: { startToClose: '2m', heartbeat: '10s' },
      run: async (ctx) => {
        const chunks = 20;
        for (let i = 1; i <= chunks; i++) {
          // The AbortSignal fires on cancellation and worker shutdown: stop between chunks.
          await delay(1_000, undefined, { signal: ctx.signal });
          ctx.heartbeat({ chunk: i });
        }
        ctx.logger.info({ chunks }, 'backup written');
        return { chunks, key: ctx.idempotencyKey };
      },
    }),
    defineJob({
      id: 'example-flaky',
      description: 'Fails on its first two attempts, then succeeds: shows declared retries with backoff.',
      schedule: { intervals: [{ every: '30s' }] },
      retry: { initialInterval: '1s', backoffCoefficient: 2, maximumAttempts: 5 },
      timeouts: { startToClose: '30s' },
      run: (ctx) => {
        if (ctx.attempt < 3) throw new RetryableJobError(`simulated failure on attempt ${ctx.attempt}`);
        return { succeededOnAttempt: ctx.attempt };
      },
    }),
    defineJob({
      id: 'example-http-health',
      description: "Calls Sundial's own /healthz: a job with no code.",
      schedule: { intervals: [{ every: '15s' }] },
      http: { url: `${apiUrl}/healthz`, method: 'GET', timeout: '5s', expectStatus: [200] },
      retry: { initialInterval: '1s', maximumAttempts: 3 },
    }),
  ];
}
