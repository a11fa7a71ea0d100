/**
 * The alert rules and the Grafana dashboard as shipped: one copy under charts/safesquid/files/
 * (the chart reads them with .Files.Get), linked from deploy/monitoring/.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export const REPO = join(__dirname, '..', '..');
export const RULES_FILE = join(REPO, 'charts/safesquid/files/safesquid.rules.yaml');
export const RULES_TESTS = join(REPO, 'test/monitoring/rules.test.yaml');
export const DASHBOARD_FILE = join(REPO, 'charts/safesquid/files/safesquid-dashboard.json');
export const RUNBOOKS = join(REPO, 'docs/runbooks.md');

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function alertRules(): AlertRule[] {
  const doc = parse(readFileSync(RULES_FILE, 'utf8')) as {
    groups: { name: string; rules: (AlertRule | { record: string })[] }[];
  };
  return doc.groups.flatMap((g) => g.rules).filter((r): r is AlertRule => 'alert' in r);
}

export interface PanelQuery {
  panel: string;
  refId: string;
  expr: string;
}

interface Panel {
  type: string;
  title: string;
  targets?: { refId: string; expr: string }[];
  panels?: Panel[];
}

/** Every query of every panel (rows' nested panels included). */
export function dashboardQueries(): PanelQuery[] {
  const dash = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as { panels: Panel[] };
  const all = (ps: Panel[]): Panel[] => ps.flatMap((p) => [p, ...all(p.panels ?? [])]);
  return all(dash.panels).flatMap((p) =>
    (p.targets ?? []).map((t) => ({ panel: p.title, refId: t.refId, expr: t.expr })),
  );
}

/**
 * A panel query as Grafana sends it: the dashboard variables replaced by what they hold with
 * "All" selected, `$__rate_interval` by the window given (Grafana's is 4 scrape intervals or more).
 */
export function expandVariables(expr: string, rateInterval: string): string {
  return expr.replaceAll('$__rate_interval', rateInterval).replaceAll('$namespace', '.*');
}

/** The metric names a PromQL expression reads (identifiers followed by `{` or `[`, or bare names in known spots). */
export function metricNames(expr: string): string[] {
  return [...new Set([...expr.matchAll(/\b(safesquid_[a-z0-9_]+)/g)].map((m) => m[1]))];
}
