/**
 * The dashboard's operator panels against the real operator: `node operator/dist/main.js` with only
 * deploy/rbac's permissions and leader election, on the real control plane, scraped every second by
 * a real Prometheus while it reconciles the SafeSquidCluster and PolicySets of deploy/samples.
 * Every operator panel query must return finite data, and the leader gauge must read 1.
 * (dashboard.e2e.test.ts covers the master and slave panels.) Every process is stopped by PID.
 */
import { join } from 'node:path';
import { createNamespace, kubectl, kubectlOk } from '../cluster/kubectl.js';
import { startPrometheus, type RunningPrometheus } from '../support/prometheus.js';
import { until } from '../support/until.js';
import {
  installCrds,
  operatorIdentity,
  startOperator,
  type OperatorIdentity,
  type OperatorProc,
} from '../operator/operator-process.js';
import { REPO, alertRules, dashboardQueries, expandVariables, metricNames } from './monitoring-files.js';

jest.setTimeout(180_000);

let ns: string;
let identity: OperatorIdentity | undefined;
let operator: OperatorProc | undefined;
let prometheus: RunningPrometheus | undefined;

beforeAll(async () => {
  await installCrds();
  ns = await createNamespace('dash-operator');
  identity = await operatorIdentity(ns);
  operator = await startOperator(identity, ['--leader-elect', '--lease-namespace', ns, '--namespace', ns], {
    what: 'the operator (dashboard)',
  });
  prometheus = await startPrometheus([{ job: 'safesquid-operator', targets: [operator.metricsAddress] }]);
});

afterAll(async () => {
  await Promise.all([prometheus?.stop(), operator?.stop()]);
  await kubectl(['delete', 'namespace', ns, '--wait=false']);
  await identity?.remove();
});

it('every operator panel returns data while the operator reconciles the samples', async () => {
  const p = prometheus!;
  await until(
    'Prometheus scraped the operator twice',
    async () => {
      const up = await p.query('count_over_time(up[5m])');
      return (up[0]?.value ?? 0) >= 2 || undefined;
    },
    30_000,
    250,
  );
  // Reconciles from now on fall inside the panels' window with a sample from before them.
  await kubectlOk(['apply', '-n', ns, '-k', join(REPO, 'deploy/samples')]);

  const queries = dashboardQueries().filter((q) =>
    metricNames(q.expr).some((m) => m.startsWith('safesquid_operator_')),
  );
  expect(queries.length).toBeGreaterThanOrEqual(5);
  let problems: string[] = [];
  // Each series needs two scrapes after the reconciles that made it; retry until all have data.
  await until(
    'every operator panel with finite data',
    async () => {
      problems = [];
      for (const q of queries) {
        const samples = await p.query(expandVariables(q.expr, '5m')).catch((err: Error) => err);
        if (samples instanceof Error) problems.push(`"${q.panel}" ${q.refId}: ${samples.message}`);
        else if (samples.length === 0) problems.push(`"${q.panel}" ${q.refId}: no data`);
        else if (samples.some((s) => !Number.isFinite(s.value)))
          problems.push(`"${q.panel}" ${q.refId}: ${JSON.stringify(samples)}`);
      }
      return problems.length === 0 || undefined;
    },
    60_000,
    1000,
  ).catch(() => undefined);
  expect(problems).toEqual([]);

  const leader = await p.query(expandVariables(queries.find((q) => q.panel === 'Operator leader')!.expr, '5m'));
  expect(leader.map((s) => s.value)).toEqual([1]);
  const reconciles = await p.query('sum(safesquid_operator_reconciles_total{kind="SafeSquidCluster"})');
  expect(reconciles[0]?.value).toBeGreaterThan(0);
  // The no-leader alert reads the real gauge: quiet while this operator leads.
  const noLeader = alertRules().find((r) => r.alert === 'SafeSquidOperatorNoLeader')!;
  expect(await p.query(noLeader.expr)).toEqual([]);
  expect(await p.query('count(present_over_time(safesquid_operator_leader[1h]))')).toEqual([{ metric: {}, value: 1 }]);
});
