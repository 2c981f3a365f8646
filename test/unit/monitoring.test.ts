import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createJobMetrics, createMetrics, createNotificationMetrics } from '../../src/observability/metrics';
import { projectRoot } from '../../src/util/paths';
import { allPanels, dashboardQueries, loadAlertRules, loadDashboard, type DashboardPanel } from '../support/monitoring';
import { metricNames, selectors } from '../support/promql';

/**
 * The dashboard and the alert rules read only metrics Sundial exports (docs/observability.md,
 * "Metrics, dashboard and alerts"), run metrics are combined across API replicas with max (each replica
 * exports the same values), and the dashboard has the panels issue 5 asks for.
 */

/** Sundial's metrics (on the API's /metrics; the notification counter on workers'), with their labels: the contract the dashboard and rules are written against, checked against the code's registry below. */
const SUNDIAL_METRICS: Record<
  string,
  { readonly type: 'counter' | 'gauge' | 'histogram'; readonly labels: readonly string[] }
> = {
  sundial_job_runs_total: { type: 'counter', labels: ['job', 'status'] },
  sundial_job_attempts_total: { type: 'counter', labels: ['job', 'outcome'] },
  sundial_job_duration_seconds: { type: 'histogram', labels: ['job'] },
  sundial_schedule_lag_seconds: { type: 'histogram', labels: ['job'] },
  sundial_breaker_state: { type: 'gauge', labels: ['key'] },
  sundial_breaker_transitions_total: { type: 'counter', labels: ['key', 'to'] },
  sundial_fallback_served_total: { type: 'counter', labels: ['job'] },
  sundial_schedule_missed_total: { type: 'counter', labels: ['job'] },
  sundial_schedule_skipped_overlap_total: { type: 'counter', labels: ['job'] },
  sundial_job_last_success_timestamp_seconds: { type: 'gauge', labels: ['job'] },
  sundial_job_expected_interval_seconds: { type: 'gauge', labels: ['job'] },
  sundial_schedule_paused: { type: 'gauge', labels: ['job'] },
  sundial_collector_up: { type: 'gauge', labels: [] },
  sundial_collector_age_seconds: { type: 'gauge', labels: ['part'] },
  sundial_notification_deliveries_total: { type: 'counter', labels: ['job', 'event', 'target', 'outcome'] },
  http_request_duration_seconds: { type: 'histogram', labels: ['method', 'route', 'status'] },
};

/** Per process, not read from Temporal: every other sundial_* metric is the same on every API replica. */
const PER_PROCESS = new Set([
  'sundial_collector_up',
  'sundial_collector_age_seconds',
  'http_request_duration_seconds',
  'sundial_notification_deliveries_total',
]);

/**
 * The Temporal SDK metrics the dashboard reads (the core's Prometheus exporter on the workers'
 * SUNDIAL_SDK_METRICS_ADDRESS, prefix temporal_, durations in seconds), as a worker of
 * @temporalio/worker 1.24 exports them after running a workflow with an activity.
 */
const SDK_METRICS = [
  'temporal_worker_task_slots_available',
  'temporal_num_pollers',
  'temporal_activity_schedule_to_start_latency_bucket',
  'temporal_workflow_task_schedule_to_start_latency_bucket',
];

/** Series names Prometheus adds itself. */
const PROMETHEUS_METRICS = ['up'];

/** The labels Prometheus attaches to every scraped series (with honor_labels, `job` is Sundial's own on run metrics). */
const TARGET_LABELS = ['instance', 'job'];

function exposedNames(): Set<string> {
  const names = new Set<string>([...SDK_METRICS, ...PROMETHEUS_METRICS]);
  for (const [name, { type }] of Object.entries(SUNDIAL_METRICS)) {
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
    else names.add(name);
  }
  // Node's process metrics, exactly as prom-client's defaults name them.
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const metric of registry.getMetricsAsArray()) {
    const { name, type } = metric as unknown as { name: string; type: string };
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
    else names.add(name);
  }
  registry.clear();
  return names;
}

/** The base metric of an exposed series name (histogram suffixes removed when the base is ours). */
function baseMetric(name: string): string {
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return SUNDIAL_METRICS[base]?.type === 'histogram' ? base : name;
}

function everyQuery(): { where: string; expr: string }[] {
  return [
    ...dashboardQueries(loadDashboard()).map((q) => ({ where: `dashboard ${q.where}`, expr: q.expr })),
    ...loadAlertRules().map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })),
  ];
}

describe('the metric contract', () => {
  it('is what the code registers on the API: names, types and labels', async () => {
    const { registry } = createMetrics();
    createJobMetrics(registry);
    // A worker's (and the embedded default's) counter: each process counts its own deliveries.
    createNotificationMetrics(registry);
    const registered: Record<string, { type: string; labels: string[] }> = {};
    for (const { name } of registry.getMetricsAsArray()) {
      if (!name.startsWith('sundial_') && !name.startsWith('http_')) continue;
      const metric = registry.getSingleMetric(name)!;
      registered[name] = {
        type: String((await metric.get()).type),
        labels: [...(metric as unknown as { labelNames: string[] }).labelNames].sort(),
      };
    }
    const contract = Object.fromEntries(
      Object.entries(SUNDIAL_METRICS).map(([name, m]) => [name, { type: m.type, labels: [...m.labels].sort() }]),
    );
    assert.deepEqual(registered, contract);
    registry.clear();
  });

  it('has a lag histogram bucket at 1 s, the alert threshold', async () => {
    const { registry } = createMetrics();
    createJobMetrics(registry).lag.observe({ job: 'x' }, 0.2);
    const lag = (await registry.getSingleMetric('sundial_schedule_lag_seconds')!.get()).values;
    assert.ok(
      lag.some((v) => v.labels.le === 1),
      'no le="1" bucket: histogram_quantile cannot tell 1 s apart',
    );
    registry.clear();
  });
});

describe('metric names in the dashboard and the alert rules', () => {
  it('finds the metric names in a query, and only them', () => {
    const expr =
      'sum by (job) (max by (job, status) (increase(sundial_job_runs_total{status=~"failed|timed_out", job="a b"}[15m] offset 5m))) > 0\n' +
      'unless on (job) (histogram_quantile(0.99, max by (job, le) (rate(sundial_schedule_lag_seconds_bucket[1m]))) > 1e3) # sum(x)';
    assert.deepEqual(metricNames(expr), ['sundial_job_runs_total', 'sundial_schedule_lag_seconds_bucket']);
    assert.deepEqual(
      selectors(expr).map((s) => s.aggregations),
      [['max', 'sum'], ['max']],
    );
    assert.deepEqual(metricNames('time() - max(sundial_collector_up) * 2'), ['sundial_collector_up']);
  });

  it('uses only metrics Sundial, the Temporal SDK, Node or Prometheus export', () => {
    const known = exposedNames();
    const queries = everyQuery();
    assert.ok(queries.length > 20, `only ${queries.length} queries found`);
    for (const { where, expr } of queries) {
      const names = metricNames(expr);
      assert.ok(names.length > 0, `${where} reads no metric: ${expr}`);
      for (const name of names) assert.ok(known.has(name), `${where} reads ${name}, which nothing exports`);
    }
  });

  it('matches only labels the metrics carry', () => {
    for (const { where, expr } of everyQuery()) {
      for (const m of expr.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)\{([^}]*)\}/g)) {
        const contract = SUNDIAL_METRICS[baseMetric(m[1]!)];
        if (contract === undefined) continue;
        const allowed = new Set([
          ...contract.labels,
          ...TARGET_LABELS,
          ...(contract.type === 'histogram' && m[1]!.endsWith('_bucket') ? ['le'] : []),
        ]);
        for (const label of m[2]!.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)/g)) {
          assert.ok(allowed.has(label[1]!), `${where} matches ${m[1]} on label ${label[1]}, which it does not have`);
        }
      }
    }
  });

  it('combines run metrics across API replicas with max, never sum', () => {
    for (const { where, expr } of everyQuery()) {
      for (const s of selectors(expr)) {
        if (!s.metric.startsWith('sundial_') || PER_PROCESS.has(baseMetric(s.metric))) continue;
        const first = s.aggregations[0];
        assert.ok(
          first === undefined || first === 'max',
          `${where} aggregates ${s.metric} with ${first} first: every API replica exports the same value, so use max by (...)`,
        );
      }
    }
  });
});

describe('Grafana dashboard', () => {
  const dashboard = loadDashboard();
  const panels = allPanels(dashboard);
  const byTitle = (title: string): DashboardPanel => {
    const panel = panels.find((p) => p.title === title);
    assert.ok(panel, `no panel "${title}" (panels: ${panels.map((p) => p.title).join(', ')})`);
    return panel;
  };

  it('has the panels issue 5 asks for, each reading the right metric', () => {
    const required: Record<string, string> = {
      'Runs by status': 'sundial_job_runs_total',
      'Failure rate': 'sundial_job_runs_total',
      'Run duration p95': 'sundial_job_duration_seconds_bucket',
      'Schedule lag p99': 'sundial_schedule_lag_seconds_bucket',
      'Breaker states': 'sundial_breaker_state',
      'Worker task slots available': 'temporal_worker_task_slots_available',
      'Schedule missed / skipped': 'sundial_schedule_missed_total',
      'API latency p95 by route': 'http_request_duration_seconds_bucket',
    };
    for (const [title, metric] of Object.entries(required)) {
      const exprs = (byTitle(title).targets ?? []).map((t) => t.expr);
      assert.ok(
        exprs.some((e) => metricNames(e).includes(metric)),
        `panel "${title}" does not read ${metric}`,
      );
    }
    assert.ok(
      byTitle('Schedule missed / skipped').targets?.some((t) =>
        metricNames(t.expr).includes('sundial_schedule_skipped_overlap_total'),
      ),
    );
    assert.match(byTitle('Run duration p95').targets?.[0]?.expr ?? '', /histogram_quantile\(0\.95,/);
    assert.match(byTitle('Schedule lag p99').targets?.[0]?.expr ?? '', /histogram_quantile\(0\.99,/);
  });

  it('is provisionable: a stable uid, unique panel ids, every query on the chosen Prometheus', () => {
    assert.equal(dashboard.uid, 'sundial');
    assert.ok(dashboard.schemaVersion >= 36, `schemaVersion ${dashboard.schemaVersion}`);
    assert.ok(
      dashboard.templating.list.some(
        (v) => v.name === 'datasource' && v.type === 'datasource' && v.query === 'prometheus',
      ),
    );
    const ids = panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids must be unique');
    for (const panel of panels) {
      if (panel.type === 'row') continue;
      assert.ok((panel.targets ?? []).length > 0, `panel "${panel.title}" has no query`);
      assert.ok(
        panel.description !== undefined && panel.description.length > 0,
        `panel "${panel.title}" has no description`,
      );
      for (const target of [panel, ...(panel.targets ?? [])]) {
        assert.deepEqual(
          target.datasource,
          { type: 'prometheus', uid: '${datasource}' },
          `panel "${panel.title}" must query the $datasource variable`,
        );
      }
    }
  });

  it('lays panels out on the 24-column grid without overlaps', () => {
    const placed = panels.map((p) => ({ title: p.title, ...p.gridPos }));
    for (const p of placed)
      assert.ok(p.x >= 0 && p.w > 0 && p.x + p.w <= 24 && p.h > 0, `panel "${p.title}" is off the grid`);
    for (const [i, a] of placed.entries()) {
      for (const b of placed.slice(i + 1)) {
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        assert.ok(!overlap, `panels "${a.title}" and "${b.title}" overlap`);
      }
    }
  });
});

describe('alert rules', () => {
  const rules = loadAlertRules();

  it('cover what issue 5 asks for', () => {
    const reads = (alert: string) => {
      const rule = rules.find((r) => r.alert === alert);
      assert.ok(rule, `no alert ${alert}`);
      return metricNames(rule.expr);
    };
    assert.ok(reads('SundialJobFailing').includes('sundial_job_runs_total'));
    assert.deepEqual(reads('SundialJobNotSucceeding').sort(), [
      'sundial_job_expected_interval_seconds',
      'sundial_job_last_success_timestamp_seconds',
      'sundial_schedule_paused',
    ]);
    assert.deepEqual(reads('SundialBreakerOpen'), ['sundial_breaker_state']);
    assert.deepEqual(reads('SundialScheduleLagHigh'), ['sundial_schedule_lag_seconds_bucket']);
    assert.deepEqual(reads('SundialCollectorDown'), ['sundial_collector_up']);
    assert.deepEqual(reads('SundialApiDown'), ['up']);
    assert.deepEqual(reads('SundialWorkerDown'), ['up']);
  });

  it('each have a for:, a severity and a summary and description', () => {
    for (const rule of rules) {
      assert.match(rule.for ?? '', /^\d+[smh]$/, `${rule.alert} has no for:`);
      assert.ok(
        ['warning', 'critical'].includes(rule.labels?.severity ?? ''),
        `${rule.alert} has no severity warning|critical`,
      );
      assert.ok((rule.annotations?.summary ?? '').length > 0, `${rule.alert} has no summary`);
      assert.ok((rule.annotations?.description ?? '').length > 0, `${rule.alert} has no description`);
    }
  });
});

describe('docs/observability.md', () => {
  const page = readFileSync(path.join(projectRoot(), 'docs', 'observability.md'), 'utf8');
  const start = page.indexOf('## Metrics, dashboard and alerts');
  const section = page.slice(start, page.indexOf('\n## ', start + 1));

  it('lists every metric in a table line of its own and explains every alert', () => {
    assert.ok(start >= 0, 'docs/observability.md has no "Metrics, dashboard and alerts" section');
    for (const name of Object.keys(SUNDIAL_METRICS)) {
      assert.match(section, new RegExp(`^\\| \`${name}\` \\|`, 'm'), `docs/observability.md does not list ${name}`);
    }
    for (const rule of loadAlertRules()) {
      assert.match(
        section,
        new RegExp(`^\\| \`${rule.alert}\` \\(${rule.labels?.severity}, for ${rule.for}\\) \\|`, 'm'),
        `docs/observability.md does not explain ${rule.alert} with its severity and for:`,
      );
    }
  });
});
