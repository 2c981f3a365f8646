import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * One prom-client registry per process, with Node's process metrics. Metric definitions live
 * here so that names and labels are in one place; docs/observability.md lists each one.
 */
export interface Metrics {
  readonly registry: Registry;
  readonly httpRequestDuration: Histogram<'method' | 'route' | 'status'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const httpRequestDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Duration of API requests, by route template (never the raw path).',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return { registry, httpRequestDuration };
}

/**
 * The jobs' metrics. They are read from Temporal's records (see temporal-collector.ts), not
 * measured by the worker that ran a job, so a run is counted once however many workers it took,
 * and every API replica exports the same values: aggregate them with `max`, never `sum`.
 */
export interface JobMetrics {
  readonly runs: Counter<'job' | 'status'>;
  readonly attempts: Counter<'job' | 'outcome'>;
  readonly duration: Histogram<'job'>;
  readonly lag: Histogram<'job'>;
  readonly fallbackServed: Counter<'job'>;
  readonly lastSuccess: Gauge<'job'>;
  readonly expectedInterval: Gauge<'job'>;
  readonly paused: Gauge<'job'>;
  readonly missed: Counter<'job'>;
  readonly skippedOverlap: Counter<'job'>;
  readonly breakerState: Gauge<'key'>;
  readonly breakerTransitions: Counter<'key' | 'to'>;
  readonly collectorUp: Gauge;
  readonly collectorAge: Gauge<'part'>;
  /**
   * When each part of these values was last current (ms since the epoch), per part; a part
   * missing has never been. Exported as `sundial_collector_age_seconds`, computed at each scrape.
   */
  readonly currentAt: Map<CollectorPart, number>;
}

/**
 * The parts of the collector's values, each as current as its own reads: `runs` (every run
 * closed before then is counted), `schedules` (the listing: which jobs exist, paused, expected
 * interval), `schedule_counters` (the oldest of the jobs' missed and skipped counts), `breakers`
 * (the oldest breaker read).
 */
export const COLLECTOR_PARTS = ['runs', 'schedules', 'schedule_counters', 'breakers'] as const;
export type CollectorPart = (typeof COLLECTOR_PARTS)[number];

export function createJobMetrics(registry: Registry): JobMetrics {
  const registers = [registry];
  const currentAt = new Map<CollectorPart, number>();
  return {
    currentAt,
    runs: new Counter({
      name: 'sundial_job_runs_total',
      help: 'Finished runs, by job and status (succeeded, failed, degraded, cancelled, terminated, timed_out).',
      labelNames: ['job', 'status'] as const,
      registers,
    }),
    attempts: new Counter({
      name: 'sundial_job_attempts_total',
      help: 'Attempts of finished runs, by how they ended (success, retryable_error, non_retryable_error).',
      labelNames: ['job', 'outcome'] as const,
      registers,
    }),
    duration: new Histogram({
      name: 'sundial_job_duration_seconds',
      help: "From a run's start to its end.",
      labelNames: ['job'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
      registers,
    }),
    lag: new Histogram({
      name: 'sundial_schedule_lag_seconds',
      help: "From a tick's scheduled time to its run's first attempt start.",
      labelNames: ['job'] as const,
      buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers,
    }),
    fallbackServed: new Counter({
      name: 'sundial_fallback_served_total',
      help: 'Runs that served their fallback because their breaker was open (degraded runs).',
      labelNames: ['job'] as const,
      registers,
    }),
    lastSuccess: new Gauge({
      name: 'sundial_job_last_success_timestamp_seconds',
      help: 'When the newest succeeded run of the job closed (Unix time).',
      labelNames: ['job'] as const,
      registers,
    }),
    expectedInterval: new Gauge({
      name: 'sundial_job_expected_interval_seconds',
      help: "The gap between the schedule's next two fire times.",
      labelNames: ['job'] as const,
      registers,
    }),
    paused: new Gauge({
      name: 'sundial_schedule_paused',
      help: '1 when the job is paused.',
      labelNames: ['job'] as const,
      registers,
    }),
    missed: new Counter({
      name: 'sundial_schedule_missed_total',
      help: "Ticks the schedule missed because they fell outside its catch-up window (the schedule's own count).",
      labelNames: ['job'] as const,
      registers,
    }),
    skippedOverlap: new Counter({
      name: 'sundial_schedule_skipped_overlap_total',
      help: "Ticks the overlap policy skipped (the schedule's own count).",
      labelNames: ['job'] as const,
      registers,
    }),
    breakerState: new Gauge({
      name: 'sundial_breaker_state',
      help: 'Circuit breaker state: 0 closed, 1 half-open, 2 open.',
      labelNames: ['key'] as const,
      registers,
    }),
    breakerTransitions: new Counter({
      name: 'sundial_breaker_transitions_total',
      help: 'Circuit breaker transitions, by the state entered (closed, half_open, open).',
      labelNames: ['key', 'to'] as const,
      registers,
    }),
    collectorUp: new Gauge({
      name: 'sundial_collector_up',
      help: "1 when the collector's last cycle read Temporal's records without an error.",
      registers,
    }),
    collectorAge: new Gauge({
      name: 'sundial_collector_age_seconds',
      help: 'How old each part of the job metrics is: seconds since it was last current (+Inf: not read yet).',
      labelNames: ['part'] as const,
      registers,
      collect() {
        const now = Date.now();
        for (const part of COLLECTOR_PARTS) {
          const at = currentAt.get(part);
          this.set({ part }, at === undefined ? Infinity : Math.max(0, (now - at) / 1000));
        }
      },
    }),
  };
}

/**
 * Notification deliveries, counted by the worker that made each attempt (a worker's own
 * `/metrics`; the embedded default's API `/metrics`): unlike the job metrics, every worker
 * counts only its own attempts, so aggregate with `sum`. An attempt cut off by a worker's
 * death is not counted.
 */
export interface NotificationMetrics {
  readonly deliveries: Counter<'job' | 'event' | 'target' | 'outcome'>;
}

export function createNotificationMetrics(registry: Registry): NotificationMetrics {
  return {
    deliveries: new Counter({
      name: 'sundial_notification_deliveries_total',
      help: 'Notification delivery attempts, by job, event, target (webhook, slack) and outcome (delivered, retrying, failed: given up as not retryable).',
      labelNames: ['job', 'event', 'target', 'outcome'] as const,
      registers: [registry],
    }),
  };
}
