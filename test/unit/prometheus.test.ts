import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { projectRoot } from '../../src/util/paths';
import { dashboardQueries, loadAlertRules, loadDashboard, withGrafanaVariables } from '../support/monitoring';
import { ensurePromtool, runPromtool } from '../support/promtool';

/**
 * Prometheus's own checker on our files: the scrape config, the alert rules, the rules' unit tests
 * (deploy/prometheus/alerts.test.yml) and the dashboard's queries. promtool is found or built
 * once (`npm run promtool`); without it and without Go these tests fail and say how to get it.
 */
const root = projectRoot();
const prometheusDir = path.join(root, 'deploy', 'prometheus');
let promtool = '';

before(async () => {
  promtool = (await ensurePromtool()).path;
});

function check(args: string[], cwd = prometheusDir): string {
  const result = runPromtool(promtool, args, cwd);
  assert.equal(result.code, 0, `promtool ${args.join(' ')} failed:\n${result.output}`);
  return result.output;
}

describe('Prometheus configuration (promtool)', () => {
  it('accepts prometheus.yml and the rule files it names', () => {
    check(['check', 'config', 'prometheus.yml']);
  });

  it('accepts alerts.yml, with no lint findings', () => {
    check(['check', 'rules', '--lint=all', '--lint-fatal', 'alerts.yml']);
  });

  it('passes the alert unit tests: each alert fires for its series and stays quiet for the others', () => {
    check(['test', 'rules', 'alerts.test.yml']);
  });

  it('has a unit test in which each alert fires and one in which it stays quiet', () => {
    const tests = (
      parse(readFileSync(path.join(prometheusDir, 'alerts.test.yml'), 'utf8')) as {
        tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
      }
    ).tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const rule of loadAlertRules()) {
      const mine = tests.filter((t) => t.alertname === rule.alert);
      assert.ok(
        mine.some((t) => (t.exp_alerts ?? []).length > 0),
        `no test in which ${rule.alert} fires`,
      );
      assert.ok(
        mine.some((t) => (t.exp_alerts ?? []).length === 0),
        `no test in which ${rule.alert} stays quiet`,
      );
    }
  });

  it('rejects a broken rule file (the checks above can fail)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sundial-promtool-'));
    try {
      const file = path.join(dir, 'broken.yml');
      writeFileSync(
        file,
        stringify({ groups: [{ name: 'x', rules: [{ alert: 'Broken', expr: 'max by (job) (rate(x[5m])' }] }] }),
      );
      const result = runPromtool(promtool, ['check', 'rules', file], dir);
      assert.notEqual(result.code, 0, result.output);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Grafana dashboard queries (promtool)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sundial-dashboard-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('are valid PromQL once Grafana has filled in its variables', () => {
    // Each query becomes a recording rule, so promtool parses every one of them.
    const queries = dashboardQueries(loadDashboard());
    const rules = queries.map((q, i) => ({
      record: `sundial_dashboard:query_${i}`,
      expr: withGrafanaVariables(q.expr),
    }));
    const file = path.join(dir, 'dashboard-queries.yml');
    writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
    check(['check', 'rules', file], dir);
  });
});
