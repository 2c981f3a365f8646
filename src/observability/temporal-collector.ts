import type { Client } from '@temporalio/client';
import { BreakerStore } from '../breaker/store';
import type { BreakerStateName } from '../breaker/state';
import { RunStore, RunStatus, type RunView } from '../runs/run-store';
import { describeScheduleCounters, listSchedulesPage, type ScheduleCounters } from '../schedules/schedule-stats';
import { mapWithConcurrency } from '../util/concurrency';
import type { Logger } from './logger';
import type { Registry } from 'prom-client';
import { createJobMetrics, type CollectorPart, type JobMetrics } from './metrics';

/** What a read returns when its target did not answer this time (not: "it is gone"). */
const SKIPPED = Symbol('skipped');

/** How much one cycle may read, and how often cycles run. Every field has a default. */
export interface CollectorBudget {
  /** Pause between the end of a cycle and the start of the next, in ms. @default 15000 */
  readonly intervalMs: number;
  /**
   * How long one cycle may wait on Temporal, in ms (what it read until then is kept). After half
   * of it, a cycle starts no new request: a slow Temporal gets fewer reads per cycle, not a
   * failed cycle. @default 10000
   */
  readonly timeoutMs: number;
  /** Temporal requests in flight at once for describes, last-success look-ups and breaker queries. @default 4 */
  readonly concurrency: number;
  /** Closed runs per visibility page. @default 500 */
  readonly runPageSize: number;
  /** Pages of closed runs read per cycle: a larger backlog is read over several cycles. @default 10 */
  readonly runPagesPerCycle: number;
  /** Schedules per listing page. @default 500 */
  readonly schedulePageSize: number;
  /** Listing pages per cycle. @default 4 */
  readonly schedulePagesPerCycle: number;
  /** Schedules described per cycle for the counters only a describe has (missed, skipped by overlap). @default 100 */
  readonly describesPerCycle: number;
  /** Jobs whose last success before this process is looked up per cycle (one visibility query each). @default 50 */
  readonly lastSuccessLookupsPerCycle: number;
  /** Breaker keys per listing page. @default 500 */
  readonly breakerPageSize: number;
  /** Breaker entities queried per cycle. @default 50 */
  readonly breakerQueriesPerCycle: number;
}

export const DEFAULT_COLLECTOR_BUDGET: CollectorBudget = {
  intervalMs: 15_000,
  timeoutMs: 10_000,
  concurrency: 4,
  runPageSize: 500,
  runPagesPerCycle: 10,
  schedulePageSize: 500,
  schedulePagesPerCycle: 4,
  describesPerCycle: 100,
  lastSuccessLookupsPerCycle: 50,
  breakerPageSize: 500,
  breakerQueriesPerCycle: 50,
};

export interface TemporalCollectorOptions {
  readonly client: Client;
  readonly metrics: JobMetrics;
  readonly logger: Logger;
  readonly budget?: Partial<CollectorBudget>;
  /**
   * How far back each sweep of closed runs starts before the newest close time counted, in ms,
   * for runs that reached visibility after a newer run was already read (visibility is
   * eventually consistent). @default 120000
   */
  readonly overlapMs?: number;
  /** Runs that closed before this are not counted. @default the collector's creation */
  readonly since?: Date;
}

const BREAKER_STATE_VALUE: Record<BreakerStateName, number> = { closed: 0, half_open: 1, open: 2 };
/** Statuses a closed run is counted under: the label values to remove with a deleted job. */
const CLOSED_STATUSES = Object.values(RunStatus).filter((s) => s !== 'running');
/** A sweep whose page token failed this many cycles in a row starts again (the counted run ids keep it exact). */
const SWEEP_RETRIES = 3;

/** A pass over a paged listing, continued across cycles. */
interface Pass {
  readonly number: number;
  /** When its first page was read. */
  startedAt?: number;
  token?: Uint8Array;
}

/** What the collector keeps about each job it has seen in the schedule listing. */
interface JobEntry {
  /** The listing pass that last saw the job. */
  pass: number;
  counters?: ScheduleCounters;
  /** When its counters were last read. */
  readAt?: number;
  /** Its last success before this process has been looked up (or a run since was counted). */
  lastSuccessKnown: boolean;
}

interface BreakerEntry {
  pass: number;
  readAt?: number;
  transitions: Record<string, number>;
}

/** What one cycle did, for the debug log and for measuring the collector's load. */
interface CycleReport {
  requests: number;
  runsRead: number;
  runsCounted: number;
  schedulesListed: number;
  described: number;
  lastSuccessLookups: number;
  breakersQueried: number;
  breakerQueryFailures: number;
}

/**
 * Turns Temporal's records into Sundial's job metrics in the background: a loop of cycles, each
 * with bounded work, so that a scrape only serializes what the last cycles computed, in the same
 * time however many jobs there are. Owned by the API process: {@link start} and {@link stop}.
 *
 * Runs are read from visibility once they have closed, one page at a time, in sweeps that
 * continue across cycles, and counted by run id as each page is read: a run is counted exactly
 * once whichever workers ran it, a backlog is caught up over cycles, and runs that were
 * terminated or timed out (which no worker sees end) are counted too. Which jobs exist, and
 * whether they are paused, comes from the schedule listing; the counters only a describe returns
 * (missed, skipped by overlap) are refreshed a few schedules per cycle, round-robin, as are the
 * breakers. Series of jobs and breakers that no longer exist are removed.
 *
 * What it cannot see: runs that closed while no collector was running (a counter starts at
 * zero with its process, as Prometheus expects).
 */
export class TemporalMetricsCollector {
  private readonly budget: CollectorBudget;
  private readonly floorMs: number;
  private readonly overlapMs: number;
  private readonly runs: RunStore;
  private readonly breakers: BreakerStore;

  /** Each sweep reads the runs that closed from `overlapMs` before this on. */
  private watermarkMs: number;
  private sweep: { token?: string; startedAt: number; newestOnFirstPageMs?: number; failures: number } | undefined;
  /** Run ids counted that a later sweep can read again, with their close times. */
  private readonly seen = new Map<string, number>();
  private readonly lastSuccessMs = new Map<string, number>();
  private readonly outcomesSeen = new Set<string>();

  private readonly jobs = new Map<string, JobEntry>();
  private scheduleListing: Pass = { number: 1 };
  private readonly breakerEntries = new Map<string, BreakerEntry>();
  private breakerListing: Pass = { number: 1 };
  /** When the last complete breaker listing pass started. */
  private breakerListingDoneAt: number | undefined;
  private readonly transitionsSeen = new Set<string>();

  private report: CycleReport = emptyReport();
  /** After this (ms since the epoch), the current cycle starts no new request. */
  private softDeadline = 0;
  private timer: NodeJS.Timeout | undefined;
  private current: Promise<void> | undefined;
  private running = false;

  constructor(private readonly opts: TemporalCollectorOptions) {
    this.budget = { ...DEFAULT_COLLECTOR_BUDGET, ...opts.budget };
    this.floorMs = (opts.since ?? new Date()).getTime();
    this.watermarkMs = this.floorMs;
    this.overlapMs = opts.overlapMs ?? 120_000;
    // Links are not read here: the stores are used for their visibility queries only.
    this.runs = new RunStore({ client: opts.client, webUiUrl: '' });
    this.breakers = new BreakerStore(opts.client);
  }

  /** Starts the loop: a cycle now, then one `intervalMs` after each cycle ends. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.next(0);
  }

  /** Stops the loop and waits for a cycle in progress (bounded by `timeoutMs`). */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.current;
  }

  private next(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.current = this.cycle().finally(() => {
        this.current = undefined;
        if (this.running) this.next(this.budget.intervalMs);
      });
    }, delayMs);
  }

  /**
   * One cycle: reads at most the budget's worth from Temporal into the metrics. Never throws: a
   * failed read keeps what was read before it and sets `sundial_collector_up` to 0.
   */
  async cycle(): Promise<void> {
    const { client, metrics, logger } = this.opts;
    const started = Date.now();
    this.report = emptyReport();
    this.softDeadline = started + this.budget.timeoutMs / 2;
    const steps: Array<PromiseSettledResult<void>> = await client
      .withDeadline(started + this.budget.timeoutMs, () =>
        Promise.allSettled([this.readRuns(), this.readSchedules(), this.readBreakers()]),
      )
      .catch((err: unknown) => [{ status: 'rejected', reason: err }]);
    const failed = steps.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
    metrics.collectorUp.set(failed.length === 0 ? 1 : 0);
    for (const f of failed) {
      const err = f.reason as Error;
      logger.warn({ error_type: err.name, error_msg: err.message }, 'could not read job metrics from Temporal');
    }
    logger.debug(
      { ...this.report, ms: Date.now() - started, jobs: this.jobs.size, breakers: this.breakerEntries.size },
      'job metrics cycle',
    );
  }

  /** Whether the cycle may still start a request. */
  private get inTime(): boolean {
    return Date.now() < this.softDeadline;
  }

  /**
   * Reads the `n` entries read longest ago (a round-robin), `concurrency` at a time, while the
   * cycle is in time. `read` answering undefined means the entity is gone: it is forgotten.
   */
  private async refreshLongestAgo<K, E extends { readAt?: number }, V>(
    entries: Map<K, E>,
    n: number,
    read: (key: K) => Promise<V | undefined | typeof SKIPPED>,
    apply: (key: K, entry: E, value: V) => void,
    forget: (key: K) => void,
  ): Promise<void> {
    await mapWithConcurrency(readLongestAgo(entries, n), this.budget.concurrency, async (key) => {
      if (!this.inTime) return;
      this.report.requests++;
      const readAt = Date.now();
      const value = await read(key);
      const entry = entries.get(key);
      if (entry === undefined) return; // forgotten meanwhile
      if (value === undefined) return forget(key);
      // Unanswered: its turn comes again after the others'.
      if (value === SKIPPED) {
        entry.readAt = readAt;
        return;
      }
      apply(key, entry, value);
      entry.readAt = readAt;
    });
  }

  private markCurrent(part: CollectorPart, atMs: number | undefined): void {
    if (atMs === undefined) this.opts.metrics.currentAt.delete(part);
    else this.opts.metrics.currentAt.set(part, atMs);
  }

  // Runs ------------------------------------------------------------------------------------

  private async readRuns(): Promise<void> {
    for (let page = 0; page < this.budget.runPagesPerCycle && (page === 0 || this.inTime); page++) {
      const sweep = (this.sweep ??= { startedAt: Date.now(), failures: 0 });
      const since = new Date(Math.max(this.floorMs, this.watermarkMs - this.overlapMs));
      let res: Awaited<ReturnType<RunStore['closedSince']>>;
      try {
        this.report.requests++;
        res = await this.runs.closedSince(since, {
          pageSize: this.budget.runPageSize,
          ...(sweep.token === undefined ? {} : { pageToken: sweep.token }),
        });
      } catch (err) {
        // A page token the server no longer accepts would stall the sweep for good: start it
        // again; the run ids counted so far keep it from counting anything twice.
        if (++sweep.failures >= SWEEP_RETRIES) this.sweep = undefined;
        throw err;
      }
      sweep.failures = 0;
      this.report.runsRead += res.items.length;
      for (const run of res.items) this.countOnce(run);
      // Visibility lists the newest close first (SQL visibility accepts no ORDER BY), so the
      // first page's newest is where the next sweep starts; runs that close during this sweep
      // sort before its cursor and are read by the next.
      sweep.newestOnFirstPageMs ??= Math.max(
        this.watermarkMs,
        ...res.items.flatMap((r) => (r.closedAt === null ? [] : [Date.parse(r.closedAt)])),
      );
      if (res.nextPageToken === null) {
        this.watermarkMs = sweep.newestOnFirstPageMs;
        for (const [runId, closedMs] of this.seen)
          if (closedMs < this.watermarkMs - this.overlapMs) this.seen.delete(runId);
        this.markCurrent('runs', sweep.startedAt);
        this.sweep = undefined;
        return;
      }
      sweep.token = res.nextPageToken;
    }
  }

  private countOnce(run: RunView): void {
    if (run.closedAt === null || this.seen.has(run.runId)) return;
    const closedMs = Date.parse(run.closedAt);
    if (closedMs < this.floorMs) return;
    this.seen.set(run.runId, closedMs);
    this.report.runsCounted++;
    const { metrics } = this.opts;
    const job = run.jobId ?? 'unknown';
    metrics.runs.inc({ job, status: run.status });
    for (const [outcome, n] of Object.entries(run.attemptOutcomes ?? {})) {
      this.outcomesSeen.add(outcome);
      metrics.attempts.inc({ job, outcome }, n);
    }
    if (run.durationMs !== null) metrics.duration.observe({ job }, run.durationMs / 1000);
    // Runs that ended without reporting (terminated, timed out, cancelled) are measured to their start.
    const lagMs = run.lagMs ?? Math.max(0, Date.parse(run.startedAt) - Date.parse(run.scheduledAt));
    metrics.lag.observe({ job }, lagMs / 1000);
    if (run.status === 'degraded') metrics.fallbackServed.inc({ job });
    if (run.status === 'succeeded') {
      this.noteSuccess(job, closedMs);
      // A success counted here is newer than any before this process: no look-up needed.
      const entry = this.jobs.get(job);
      if (entry !== undefined) entry.lastSuccessKnown = true;
    }
  }

  private noteSuccess(job: string, closedMs: number): void {
    const current = this.lastSuccessMs.get(job);
    if (current !== undefined && current >= closedMs) return;
    this.lastSuccessMs.set(job, closedMs);
    this.opts.metrics.lastSuccess.set({ job }, closedMs / 1000);
  }

  // Schedules -------------------------------------------------------------------------------

  private async readSchedules(): Promise<void> {
    await this.listSchedules();
    await Promise.all([this.describeSome(), this.lookUpLastSuccesses()]);
  }

  /** Continues the listing pass; at its end, the jobs it did not see are gone. */
  private async listSchedules(): Promise<void> {
    const { client, metrics } = this.opts;
    for (let page = 0; page < this.budget.schedulePagesPerCycle && (page === 0 || this.inTime); page++) {
      const pass = this.scheduleListing;
      pass.startedAt ??= Date.now();
      this.report.requests++;
      const res = await listSchedulesPage(client, {
        pageSize: this.budget.schedulePageSize,
        ...(pass.token === undefined ? {} : { pageToken: pass.token }),
      });
      this.report.schedulesListed += res.items.length;
      for (const s of res.items) {
        const entry = this.jobs.get(s.jobId);
        if (entry === undefined)
          this.jobs.set(s.jobId, { pass: pass.number, lastSuccessKnown: this.lastSuccessMs.has(s.jobId) });
        else entry.pass = pass.number;
        metrics.paused.set({ job: s.jobId }, s.paused ? 1 : 0);
        if (s.expectedIntervalMs === undefined) metrics.expectedInterval.remove({ job: s.jobId });
        else metrics.expectedInterval.set({ job: s.jobId }, s.expectedIntervalMs / 1000);
      }
      if (res.nextPageToken === undefined) {
        for (const [jobId, entry] of this.jobs) if (entry.pass !== pass.number) this.forgetJob(jobId);
        this.markCurrent('schedules', pass.startedAt);
        this.scheduleListing = { number: pass.number + 1 };
        this.markCountersAge();
        return;
      }
      pass.token = res.nextPageToken;
    }
  }

  /** Describes the jobs whose counters are oldest (never read first), `describesPerCycle` of them. */
  private async describeSome(): Promise<void> {
    const { client, metrics } = this.opts;
    await this.refreshLongestAgo(
      this.jobs,
      this.budget.describesPerCycle,
      (jobId) => {
        this.report.described++;
        return describeScheduleCounters(client, jobId);
      },
      (jobId, entry, counters) => {
        advanceCounter(metrics.missed, { job: jobId }, entry.counters?.missed, counters.missed);
        advanceCounter(metrics.skippedOverlap, { job: jobId }, entry.counters?.skippedOverlap, counters.skippedOverlap);
        entry.counters = counters;
      },
      (jobId) => this.forgetJob(jobId),
    );
    this.markCountersAge();
  }

  /** The oldest job's counters; with no job, as current as the listing that found none. */
  private markCountersAge(): void {
    this.markCurrent('schedule_counters', oldestRead(this.jobs, this.opts.metrics.currentAt.get('schedules')));
  }

  /** A job seen for the first time may have succeeded before this process: look it up, a few per cycle. */
  private async lookUpLastSuccesses(): Promise<void> {
    const due = [...this.jobs.entries()]
      .filter(([, e]) => !e.lastSuccessKnown)
      .slice(0, this.budget.lastSuccessLookupsPerCycle);
    await mapWithConcurrency(due, this.budget.concurrency, async ([jobId, entry]) => {
      if (!this.inTime) return;
      this.report.requests++;
      this.report.lastSuccessLookups++;
      const page = await this.runs.list(jobId, { status: 'succeeded', pageSize: 1 });
      if (this.jobs.get(jobId) !== entry) return; // forgotten meanwhile
      entry.lastSuccessKnown = true;
      const closedAt = page.items[0]?.closedAt;
      if (closedAt !== null && closedAt !== undefined) this.noteSuccess(jobId, Date.parse(closedAt));
    });
  }

  /** Removes every series of a job that no longer exists. */
  private forgetJob(job: string): void {
    const { metrics } = this.opts;
    this.jobs.delete(job);
    this.lastSuccessMs.delete(job);
    for (const status of CLOSED_STATUSES) metrics.runs.remove({ job, status });
    for (const outcome of this.outcomesSeen) metrics.attempts.remove({ job, outcome });
    for (const m of [metrics.duration, metrics.lag]) m.remove({ job });
    for (const m of [metrics.fallbackServed, metrics.missed, metrics.skippedOverlap]) m.remove({ job });
    for (const m of [metrics.lastSuccess, metrics.expectedInterval, metrics.paused]) m.remove({ job });
  }

  // Breakers --------------------------------------------------------------------------------

  private async readBreakers(): Promise<void> {
    await this.listBreakers();
    const { metrics } = this.opts;
    await this.refreshLongestAgo(
      this.breakerEntries,
      this.budget.breakerQueriesPerCycle,
      (key) => {
        this.report.breakersQueried++;
        // One breaker that cannot answer (its task queue has no worker any more, e.g. left by a
        // renamed queue) is skipped, its series kept: the listing that found it proved Temporal
        // answers, and a stray entity must not hold `sundial_collector_up` at 0 for good.
        return this.breakers.find(key).catch((err: unknown): typeof SKIPPED => {
          this.report.breakerQueryFailures++;
          this.opts.logger.debug(
            { breaker: key, error_msg: (err as Error).message },
            'a breaker did not answer its state query',
          );
          return SKIPPED;
        });
      },
      (key, entry, view) => {
        metrics.breakerState.set({ key }, BREAKER_STATE_VALUE[view.state]);
        for (const [to, n] of Object.entries(view.transitions ?? {})) {
          this.transitionsSeen.add(to);
          advanceCounter(metrics.breakerTransitions, { key, to }, entry.transitions[to], n);
          entry.transitions[to] = n;
        }
      },
      (key) => this.forgetBreaker(key),
    );
    this.markBreakersAge();
  }

  /** The oldest breaker read; with no breaker, as current as the listing that found none. */
  private markBreakersAge(): void {
    this.markCurrent('breakers', oldestRead(this.breakerEntries, this.breakerListingDoneAt));
  }

  /** Continues the breaker listing by one page (breakers are few); at a pass's end, the keys it did not see are gone. */
  private async listBreakers(): Promise<void> {
    const pass = this.breakerListing;
    pass.startedAt ??= Date.now();
    this.report.requests++;
    const res = await this.breakers.keysPage({
      pageSize: this.budget.breakerPageSize,
      ...(pass.token === undefined ? {} : { pageToken: pass.token }),
    });
    for (const key of res.keys) {
      const entry = this.breakerEntries.get(key);
      if (entry === undefined) this.breakerEntries.set(key, { pass: pass.number, transitions: {} });
      else entry.pass = pass.number;
    }
    if (res.nextPageToken === undefined) {
      for (const [key, entry] of this.breakerEntries) if (entry.pass !== pass.number) this.forgetBreaker(key);
      this.breakerListingDoneAt = pass.startedAt;
      this.breakerListing = { number: pass.number + 1 };
    } else {
      pass.token = res.nextPageToken;
    }
  }

  private forgetBreaker(key: string): void {
    const { metrics } = this.opts;
    this.breakerEntries.delete(key);
    metrics.breakerState.remove({ key });
    for (const to of this.transitionsSeen) metrics.breakerTransitions.remove({ key, to });
  }
}

/** The keys of the `n` entries read longest ago, those never read first: a round-robin. */
function readLongestAgo<K>(entries: Map<K, { readAt?: number }>, n: number): K[] {
  return [...entries.entries()]
    .sort(([, a], [, b]) => (a.readAt ?? -1) - (b.readAt ?? -1))
    .slice(0, n)
    .map(([key]) => key);
}

/** When the entry read longest ago was read; undefined while one has never been; `ifNone` for no entries. */
function oldestRead(entries: Map<unknown, { readAt?: number }>, ifNone: number | undefined): number | undefined {
  if (entries.size === 0) return ifNone;
  let oldest = Infinity;
  for (const { readAt } of entries.values()) {
    if (readAt === undefined) return undefined;
    oldest = Math.min(oldest, readAt);
  }
  return oldest;
}

function emptyReport(): CycleReport {
  return {
    requests: 0,
    runsRead: 0,
    runsCounted: 0,
    schedulesListed: 0,
    described: 0,
    lastSuccessLookups: 0,
    breakersQueried: 0,
    breakerQueryFailures: 0,
  };
}

/**
 * Brings a counter that mirrors one of Temporal's cumulative counts to `value`. A count that went
 * down (the schedule was deleted and created again) restarts the series, which Prometheus reads
 * as a counter reset.
 */
function advanceCounter<L extends string>(
  counter: {
    inc(labels: Partial<Record<L, string>>, value?: number): void;
    remove(labels: Partial<Record<L, string>>): void;
  },
  labels: Partial<Record<L, string>>,
  previous: number | undefined,
  value: number,
): void {
  if (previous !== undefined && value >= previous) {
    if (value > previous) counter.inc(labels, value - previous);
    return;
  }
  if (previous !== undefined) counter.remove(labels);
  counter.inc(labels, value);
}

/**
 * Registers the job metrics on `registry` and starts their collector; the caller stops it when
 * its API stops.
 */
export function startJobMetricsCollector(
  opts: Omit<TemporalCollectorOptions, 'metrics'> & { readonly registry: Registry },
): TemporalMetricsCollector {
  const { registry, ...rest } = opts;
  const collector = new TemporalMetricsCollector({ ...rest, metrics: createJobMetrics(registry) });
  collector.start();
  return collector;
}
