import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { projectRoot } from '../../src/util/paths';

/** Reading the operations artifacts under deploy/: the Grafana dashboard and the alert rules. */

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

export interface DashboardPanel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly description?: string;
  readonly datasource?: { readonly type: string; readonly uid: string };
  readonly gridPos: { readonly x: number; readonly y: number; readonly w: number; readonly h: number };
  readonly targets?: {
    readonly refId: string;
    readonly expr: string;
    readonly datasource?: { readonly type: string; readonly uid: string };
  }[];
  readonly panels?: DashboardPanel[];
}

export interface Dashboard {
  readonly uid: string;
  readonly title: string;
  readonly schemaVersion: number;
  readonly panels: DashboardPanel[];
  readonly templating: {
    readonly list: {
      readonly name: string;
      readonly type: string;
      readonly query?: unknown;
      readonly definition?: string;
    }[];
  };
}

const deploy = () => path.join(projectRoot(), 'deploy');

export function loadDashboard(): Dashboard {
  return JSON.parse(readFileSync(path.join(deploy(), 'grafana', 'dashboards', 'sundial.json'), 'utf8')) as Dashboard;
}

export function loadAlertRules(): AlertRule[] {
  const file = parse(readFileSync(path.join(deploy(), 'prometheus', 'alerts.yml'), 'utf8')) as {
    groups: { rules: AlertRule[] }[];
  };
  return file.groups.flatMap((g) => g.rules);
}

/** Every panel, rows' nested panels included. */
export function allPanels(dashboard: Dashboard): DashboardPanel[] {
  return dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** Every PromQL query of the dashboard: panel targets and query variables, with where each is. */
export function dashboardQueries(dashboard: Dashboard): { readonly where: string; readonly expr: string }[] {
  const fromPanels = allPanels(dashboard).flatMap((p) =>
    (p.targets ?? []).map((t) => ({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr })),
  );
  const fromVariables = dashboard.templating.list
    .filter((v) => v.type === 'query')
    .map((v) => {
      const query = typeof v.query === 'string' ? v.query : ((v.query as { query?: string } | undefined)?.query ?? '');
      // label_values(metric, label) is Grafana's, not PromQL: its first argument is a series selector.
      const labelValues = /^label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\)$/.exec(query.trim());
      return { where: `variable $${v.name}`, expr: labelValues?.[1] ?? query };
    });
  return [...fromPanels, ...fromVariables];
}

/** Grafana's variables as Prometheus sees them once Grafana has filled them in. */
const GRAFANA_VARIABLES: Record<string, string> = {
  __rate_interval: '1m',
  __interval: '15s',
  __range: '6h',
  window: '15m',
  job: '.*',
};

/**
 * Replaces `$name` and `${name}` with a value of the kind Grafana would put there.
 * @throws Error naming a variable the dashboard does not define here.
 */
export function withGrafanaVariables(expr: string): string {
  return expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, braced: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare ?? '';
    const value = GRAFANA_VARIABLES[name];
    if (value === undefined) throw new Error(`unknown Grafana variable $${name} in ${expr}`);
    return value;
  });
}
