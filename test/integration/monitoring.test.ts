import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dashboardQueries, loadAlertRules, loadDashboard } from '../support/monitoring';
import { freePort } from '../support/ports';
import { FIXTURES, killGroup, startSundial, type SundialProcess } from '../support/processes';
import { metricNames } from '../support/promql';
import { ensurePromtool, runPromtool } from '../support/promtool';
import { testAddress, unique, waitFor } from '../support/temporal';

/**
 * The dashboard and the alert rules against what real processes serve: an API process and a
 * worker process (`npm run api`, `npm run worker`) with the metrics ports docker-compose.yml
 * gives them, after one real run. Every metric a panel or rule reads must be on the endpoint
 * Prometheus scrapes for it, and Sundial's own endpoints must pass `promtool check metrics`.
 */

/** Metric names in a Prometheus text exposition: sample names and the names `# TYPE` declares. */
function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type !== null) {
      const [, name, kind] = type;
      // A labelled metric with no samples yet is only declared: its histogram series are implied.
      if (kind === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name! + suffix);
      else names.add(name!);
      continue;
    }
    const sample = /^([A-Za-z_:][A-Za-z0-9_:]*)[{ ]/.exec(line);
    if (sample !== null) names.add(sample[1]!);
  }
  return names;
}

describe('what the dashboard and alerts read, scraped from running processes', () => {
  const taskQueue = unique('monitoring');
  const jobId = unique('monitoring-job');
  const procs: SundialProcess[] = [];
  let apiUrl = '';
  let workerMetrics = '';
  let sdkMetrics = '';
  let promtool = '';

  before(async () => {
    promtool = (await ensurePromtool()).path;
    const [apiPort, metricsPort, sdkPort] = [await freePort(), await freePort(), await freePort()];
    const common = {
      TEMPORAL_ADDRESS: testAddress(),
      TEMPORAL_TASK_QUEUE: taskQueue,
      SUNDIAL_JOBS_MODULE: path.join(FIXTURES, 'no-jobs.js'),
    };
    // A generous deadline: this suite shares the machine with the rest of `npm test`.
    const api = startSundial('api', {
      ...common,
      PORT: String(apiPort),
      SUNDIAL_METRICS_INTERVAL: '1s',
      SUNDIAL_API_TEMPORAL_TIMEOUT: '30s',
    });
    const worker = startSundial('worker', {
      ...common,
      SUNDIAL_METRICS_PORT: String(metricsPort),
      SUNDIAL_SDK_METRICS_ADDRESS: `127.0.0.1:${sdkPort}`,
    });
    procs.push(api, worker);
    await Promise.all([
      api.waitForLog((l) => l.msg === 'API listening', 60_000),
      worker.waitForLog((l) => l.msg === 'worker running', 60_000),
    ]);
    apiUrl = `http://127.0.0.1:${apiPort}`;
    workerMetrics = `http://127.0.0.1:${metricsPort}/metrics`;
    sdkMetrics = `http://127.0.0.1:${sdkPort}/metrics`;
  });

  after(async () => {
    await fetch(`${apiUrl}/api/v1/jobs/${jobId}`, { method: 'DELETE' }).catch(() => undefined);
    for (const p of procs) {
      p.child.kill('SIGTERM');
      const stopped = await Promise.race([
        p.exited.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 15_000)),
      ]);
      if (!stopped) killGroup(p);
    }
  });

  it('serves every metric a panel or a rule reads, on the endpoint scraped for it', async () => {
    // One real run: an HTTP job calling the API's own /healthz.
    const created = await fetch(`${apiUrl}/api/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        id: jobId,
        schedule: { intervals: [{ every: '1h' }] },
        paused: true,
        task: { type: 'http', url: `${apiUrl}/healthz` },
      }),
    });
    assert.equal(created.status, 201, await created.text());
    const triggered = await fetch(`${apiUrl}/api/v1/jobs/${jobId}/trigger`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(triggered.status, 202, await triggered.text());

    const api = await waitFor('the API to export the run', 60_000, async () => {
      const text = await (await fetch(`${apiUrl}/metrics`)).text();
      return new RegExp(`^sundial_job_runs_total\\{[^}]*job="${jobId}"[^}]*\\} 1$`, 'm').test(text) ? text : undefined;
    });
    const worker = await (await fetch(workerMetrics)).text();
    const sdk = await waitFor('the SDK to export schedule-to-start latencies', 30_000, async () => {
      const text = await (await fetch(sdkMetrics)).text();
      return /^temporal_activity_schedule_to_start_latency_bucket\{/m.test(text) ? text : undefined;
    });
    const served: Record<string, Set<string>> = {
      'sundial-api': exposedNames(api),
      'sundial-worker': exposedNames(worker),
      'sundial-worker-sdk': exposedNames(sdk),
    };

    const queries = [
      ...dashboardQueries(loadDashboard()).map((q) => ({ where: `dashboard ${q.where}`, expr: q.expr })),
      ...loadAlertRules().map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })),
    ];
    for (const { where, expr } of queries) {
      // The scrape jobs a query names (job="..." or job=~"a|b"), else: wherever Sundial serves it.
      const named = /\bjob=~?"([a-z|.*-]+)"/.exec(expr)?.[1];
      const jobs = named === undefined || named.includes('*') ? Object.keys(served) : named.split('|');
      for (const metric of metricNames(expr)) {
        if (metric === 'up') continue; // Prometheus's own.
        const servedBy = jobs.filter((j) => served[j]?.has(metric));
        assert.ok(servedBy.length > 0, `${where} reads ${metric}, which no process serves on ${jobs.join(' or ')}`);
        if (named !== undefined && !named.includes('*')) {
          for (const j of jobs)
            assert.ok(served[j]?.has(metric), `${where} reads ${metric} from ${j}, which does not serve it`);
        }
      }
    }
    // Run metrics are the API's, never a worker's: a worker serving them would double them.
    assert.ok(![...served['sundial-worker']!].some((n) => n.startsWith('sundial_job_')), 'a worker serves run metrics');

    // Prometheus's own lint of the metrics Sundial defines (prom-client's process metrics and
    // the SDK's are their authors' business: prom-client's nodejs_active_handles_total is a gauge).
    const ours = api
      .split('\n')
      .filter((line) => /^(# (HELP|TYPE) )?(sundial_|http_)/.test(line))
      .join('\n');
    assert.match(ours, /^# TYPE sundial_job_runs_total counter$/m);
    const result = runPromtool(promtool, ['check', 'metrics'], tmpdir(), 60_000, `${ours}\n`);
    assert.equal(result.code, 0, `promtool check metrics on Sundial's metrics:\n${result.output}`);
  });
});
