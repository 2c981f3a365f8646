import type { Client } from '@temporalio/client';
import type { BreakerStore } from '../breaker/store';
import type { BreakerStateName } from '../breaker/state';
import type { RunStore, RunView } from '../runs/run-store';
import type { JobStore } from '../schedules/job-store';
import type { Logger } from './logger';
import type { JobMetrics } from './metrics';

export interface TemporalCollectorOptions {
  readonly client: Client;
  readonly runs: RunStore;
  readonly jobs: JobStore;
  readonly breakers: BreakerStore;
  readonly metrics: JobMetrics;
  readonly logger: Logger;
  /** How long one refresh may wait on Temporal, in ms. @default 5000 */
  readonly timeoutMs?: number;
  /**
   * How far back each refresh looks again, in ms, for runs that reached visibility after a
   * newer run was already read (visibility is eventually consistent). @default 120000
   */
  readonly overlapMs?: number;
  /** Runs that closed before this are not counted. @default the collector's creation */
  readonly since?: Date;
}

const BREAKER_STATE_VALUE: Record<BreakerStateName, number> = { closed: 0, half_open: 1, open: 2 };
const PAGE_SIZE = 500;

/**
 * Turns Temporal's records into Sundial's job metrics, on demand (each scrape). Runs are read
 * from visibility once they have closed and counted by run id, so a run is counted exactly once
 * whichever workers ran it, and runs that were terminated or timed out (which no worker sees
 * end) are counted too. Schedule and breaker counters are Temporal's own cumulative counts,
 * exported as they are.
 *
 * What it cannot see: runs that closed while no collector was running (a counter starts at
 * zero with its process, as Prometheus expects).
 */
export class TemporalMetricsCollector {
  private readonly floorMs: number;
  private readonly overlapMs: number;
  private readonly timeoutMs: number;
  /** The newest close time counted; each read starts `overlapMs` before it. */
  private watermarkMs: number;
  /** Run ids counted within the overlap, with their close times, so none is counted twice. */
  private readonly seen = new Map<string, number>();
  /** Jobs whose last success has been looked up (it predates this process). */
  private readonly lastSuccessKnown = new Set<string>();
  private readonly lastSuccessMs = new Map<string, number>();
  private inFlight: Promise<void> | undefined;

  constructor(private readonly opts: TemporalCollectorOptions) {
    this.floorMs = (opts.since ?? new Date()).getTime();
    this.watermarkMs = this.floorMs;
    this.overlapMs = opts.overlapMs ?? 120_000;
    this.timeoutMs = opts.timeoutMs ?? 5_000;
  }

  /**
   * Reads what changed since the last refresh into the metrics. Concurrent callers share one
   * read. Never throws: a failed read leaves the previous values and sets `sundial_collector_up`
   * to 0.
   */
  refresh(): Promise<void> {
    this.inFlight ??= this.read().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async read(): Promise<void> {
    const { client, metrics, logger } = this.opts;
    const steps: Array<PromiseSettledResult<void>> = await client
      .withDeadline(Date.now() + this.timeoutMs, () => Promise.allSettled([this.readRuns(), this.readSchedules(), this.readBreakers()]))
      .catch((err: unknown) => [{ status: 'rejected', reason: err }]);
    const failed = steps.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
    metrics.collectorUp.set(failed.length === 0 ? 1 : 0);
    for (const f of failed) {
      const err = f.reason as Error;
      logger.warn({ error_type: err.name, error_msg: err.message }, 'could not read job metrics from Temporal');
    }
  }

  private async readRuns(): Promise<void> {
    const since = new Date(Math.max(this.floorMs, this.watermarkMs - this.overlapMs));
    const closed: RunView[] = [];
    let pageToken: string | undefined;
    do {
      const page = await this.opts.runs.closedSince(since, { pageSize: PAGE_SIZE, ...(pageToken === undefined ? {} : { pageToken }) });
      closed.push(...page.items);
      pageToken = page.nextPageToken ?? undefined;
    } while (pageToken !== undefined);
    // Counted only once the whole read succeeded, so a failed page loses nothing: the next
    // refresh reads the same window again.
    let newest = this.watermarkMs;
    for (const run of closed) {
      if (run.closedAt === null || this.seen.has(run.runId)) continue;
      const closedMs = Date.parse(run.closedAt);
      if (closedMs < this.floorMs) continue;
      this.seen.set(run.runId, closedMs);
      newest = Math.max(newest, closedMs);
      this.count(run, closedMs);
    }
    this.watermarkMs = newest;
    for (const [runId, closedMs] of this.seen) {
      if (closedMs < this.watermarkMs - this.overlapMs) this.seen.delete(runId);
    }
  }

  private count(run: RunView, closedMs: number): void {
    const { metrics } = this.opts;
    const job = run.jobId ?? 'unknown';
    metrics.runs.inc({ job, status: run.status });
    const outcomes = run.attemptOutcomes;
    if (outcomes !== undefined) {
      for (const [outcome, n] of Object.entries(outcomes)) metrics.attempts.inc({ job, outcome }, n);
    }
    if (run.durationMs !== null) metrics.duration.observe({ job }, run.durationMs / 1000);
    // Runs that ended without reporting (terminated, timed out, cancelled) are measured to their start.
    const lagMs = run.lagMs ?? Math.max(0, Date.parse(run.startedAt) - Date.parse(run.scheduledAt));
    metrics.lag.observe({ job }, lagMs / 1000);
    if (run.status === 'degraded') metrics.fallbackServed.inc({ job });
    if (run.status === 'succeeded') this.noteSuccess(job, closedMs);
  }

  private noteSuccess(job: string, closedMs: number): void {
    const current = this.lastSuccessMs.get(job);
    if (current !== undefined && current >= closedMs) return;
    this.lastSuccessMs.set(job, closedMs);
    this.opts.metrics.lastSuccess.set({ job }, closedMs / 1000);
  }

  private async readSchedules(): Promise<void> {
    const stats = await this.opts.jobs.stats();
    // The last success of a job seen for the first time predates this process: look it up once.
    const unknown = stats.filter((s) => !this.lastSuccessKnown.has(s.jobId));
    const found = await Promise.all(
      unknown.map(async (s) => ({ job: s.jobId, page: await this.opts.runs.list(s.jobId, { status: 'succeeded', pageSize: 1 }) })),
    );
    const { metrics } = this.opts;
    for (const { job, page } of found) {
      this.lastSuccessKnown.add(job);
      const closedAt = page.items[0]?.closedAt;
      if (closedAt !== null && closedAt !== undefined) this.noteSuccess(job, Date.parse(closedAt));
    }
    // Absolute values from Temporal's own counts, set in one synchronous step.
    metrics.missed.reset();
    metrics.skippedOverlap.reset();
    metrics.paused.reset();
    metrics.expectedInterval.reset();
    for (const s of stats) {
      metrics.missed.inc({ job: s.jobId }, s.missed);
      metrics.skippedOverlap.inc({ job: s.jobId }, s.skippedOverlap);
      metrics.paused.set({ job: s.jobId }, s.paused ? 1 : 0);
      if (s.expectedIntervalMs !== undefined) metrics.expectedInterval.set({ job: s.jobId }, s.expectedIntervalMs / 1000);
    }
  }

  private async readBreakers(): Promise<void> {
    const views = await this.opts.breakers.list();
    const { metrics } = this.opts;
    metrics.breakerState.reset();
    metrics.breakerTransitions.reset();
    for (const v of views) {
      metrics.breakerState.set({ key: v.key }, BREAKER_STATE_VALUE[v.state]);
      for (const [to, n] of Object.entries(v.transitions ?? {})) metrics.breakerTransitions.inc({ key: v.key, to }, n);
    }
  }
}
