/**
 * The alert rules with Prometheus's own tools: `promtool check rules` (syntax, templates) and
 * `promtool test rules` (test/monitoring/rules.test.yaml: every alert firing and not firing on
 * made-up series); every alert documented, and the unit tests covering every alert both ways.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { PROMTOOL } from '../support/prometheus.js';
import { RULES_FILE, RULES_TESTS, RUNBOOKS, alertRules } from './monitoring-files.js';

function promtool(...args: string[]): string {
  const r = spawnSync(PROMTOOL, args, { encoding: 'utf8' });
  if (r.error)
    throw new Error(
      `${PROMTOOL}: ${r.error.message} (install the Debian package prometheus: .ci/install-debian-packages)`,
    );
  const out = `${r.stdout}${r.stderr}`;
  if (r.status !== 0) throw new Error(`promtool ${args.join(' ')} exited with ${r.status}:\n${out}`);
  return out;
}

it('promtool check rules accepts the rules file', () => {
  expect(promtool('check', 'rules', RULES_FILE)).toMatch(/SUCCESS: \d+ rules found/);
});

it('promtool test rules passes the unit tests', () => {
  expect(promtool('test', 'rules', RULES_TESTS)).toMatch(/SUCCESS/);
});

it('the alerts the issue asks for exist', () => {
  expect(
    alertRules()
      .map((r) => r.alert)
      .sort(),
  ).toEqual(
    expect.arrayContaining([
      'SafeSquidSlaveDown',
      'SafeSquidPolicyNotSynced',
      'SafeSquidMasterUnreachable',
      'SafeSquidReportSpoolGrowing',
      'SafeSquidReportRecordsDropped',
      'SafeSquidSlaveAtCapacity',
      'SafeSquidDenyRateSpike',
      'SafeSquidOperatorReconcileErrors',
      'SafeSquidOperatorNoLeader',
    ]),
  );
});

it('every alert has a severity, summary, description and a runbook section that exists', () => {
  const headings = new Set(
    readFileSync(RUNBOOKS, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('## '))
      // GitHub's anchor for a heading of one word.
      .map((l) => l.slice(3).trim().toLowerCase()),
  );
  const problems: string[] = [];
  for (const r of alertRules()) {
    if (!['critical', 'warning', 'info'].includes(r.labels?.severity ?? '')) problems.push(`${r.alert}: severity`);
    for (const a of ['summary', 'description', 'runbook_url'])
      if (!r.annotations?.[a]?.trim()) problems.push(`${r.alert}: no ${a}`);
    const anchor = /\/docs\/runbooks\.md#([a-z0-9-]+)$/.exec(r.annotations?.runbook_url ?? '')?.[1];
    if (anchor !== r.alert.toLowerCase())
      problems.push(`${r.alert}: runbook_url must end in docs/runbooks.md#${r.alert.toLowerCase()}`);
    if (!headings.has(r.alert.toLowerCase()))
      problems.push(`${r.alert}: no "## ${r.alert}" section in docs/runbooks.md`);
  }
  expect(problems).toEqual([]);
});

it('the unit tests cover every alert firing and not firing', () => {
  interface AlertTest {
    alertname: string;
    exp_alerts?: unknown[];
  }
  const doc = parse(readFileSync(RULES_TESTS, 'utf8')) as { tests: { alert_rule_test?: AlertTest[] }[] };
  const cases = doc.tests.flatMap((t) => t.alert_rule_test ?? []);
  const coverage = alertRules().map((r) => {
    const mine = cases.filter((c) => c.alertname === r.alert);
    return {
      alert: r.alert,
      fires: mine.some((c) => (c.exp_alerts ?? []).length > 0),
      quiet: mine.some((c) => (c.exp_alerts ?? []).length === 0),
    };
  });
  expect(coverage.filter((c) => !c.fires || !c.quiet)).toEqual([]);
});
