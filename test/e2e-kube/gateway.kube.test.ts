/**
 * The whole product on real pods, as a user runs it: the images of `make images` on the real node
 * (test/cluster/real-node.ts), `helm install` of charts/safesquid, deploy/samples applied, and
 * traffic from the host through the `corp-proxy` Service to upstream servers on the node's address.
 * The tests run in order on one installation (each builds on the state the previous one left), so
 * the suite pays for one install. Figures go to the console and .run/e2e-kube/figures.json.
 */
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createNamespace, eventually, getJson, kubectl, kubectlOk } from '../cluster/kubectl.js';
import { realNodeFromEnv } from '../cluster/real-node-env.js';
import { CHART, helm, helmOk } from '../charts/helm.js';
import {
  adaptedSamples,
  applyObjects,
  chartValues,
  CLUSTER,
  clusterConditions,
  MASTER_PODS,
  pods,
  readyPods,
  stableProductImages,
  recordFigures,
  ROOT,
  sampleObjects,
  SCALE_DOWN_WINDOW_SECONDS,
  secretValue,
  serviceIp,
  SLAVE_PODS,
  type PodInfo,
  type ProductImages,
} from './gateway.js';
import { startKubernetesPrometheus } from './prometheus-sd.js';
import { percentile, proxyConnect, proxyGet, startUpstreams, steadyTraffic, type Upstreams } from './traffic.js';

jest.setTimeout(300_000);

const suiteStart = Date.now();
const node = realNodeFromEnv();
const RELEASE = 'safesquid';
const OPERATOR_PODS = `app.kubernetes.io/name=safesquid-operator,app.kubernetes.io/instance=${RELEASE}`;
const PROXY_PORT = 3128;
let images: ProductImages;
let PROXY_IMAGE = '';

let ns = '';
let upstreams: Upstreams;
let workDir = '';
let proxyIp = '';
let slaves: PodInfo[] = [];
const figures: Record<string, unknown> = {};

const upstreamUrl = (path: string) => `http://${node.nodeIp}:${upstreams.httpPort}${path}`;

/** Fails the suite at the first test when an earlier one left nothing to build on. */
function need(what: string, ok: boolean): void {
  if (!ok) throw new Error(`skipped: ${what} did not come up in an earlier test of this file`);
}

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'e2e-kube-'));
  upstreams = await startUpstreams(node.nodeIp, workDir);
  images = await stableProductImages(workDir);
  PROXY_IMAGE = `docker.io/safesquid/proxy:${images.version}`;
  ns = await createNamespace('gateway');
  const t0 = Date.now();
  const imported = [...(await node.loadImage(images.proxyArchive)), ...(await node.loadImage(images.operatorArchive))];
  figures.imageImportMs = Date.now() - t0;
  expect(imported).toEqual(
    expect.arrayContaining([
      PROXY_IMAGE,
      `docker.io/safesquid/operator:${images.version}`,
      `docker.io/safesquid/proxy:${images.revisionTag}`,
    ]),
  );
}, 600_000);

afterAll(async () => {
  figures.suiteMs = Date.now() - suiteStart;
  figures.nodeStartupMs = node.startupMs;
  figures.nodeRssMiB = Math.round(node.memoryBytes() / 2 ** 20);
  recordFigures(figures);
  if (ns) {
    await kubectl(['delete', 'safesquidcluster', '-n', ns, CLUSTER, '--wait=false']);
    await helm(['uninstall', RELEASE, '-n', ns, '--wait', '--timeout', '60s']).catch(() => undefined);
    await kubectl(['delete', 'namespace', ns, '--wait=false']);
  }
  await upstreams?.close();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

test('helm install: the operator runs in-cluster and leads; the samples bring up a master and two slaves, and the status says so', async () => {
  const t0 = Date.now();
  await helmOk(
    ['install', RELEASE, CHART, '-n', ns, ...chartValues(images.version), '--wait', '--timeout', '180s'],
    200_000,
  );
  const [operator] = await readyPods(ns, OPERATOR_PODS, 1);
  figures.operatorReadyMs = Date.now() - t0;
  // The Lease of leader election names the one replica, and is owned by its Pod (so that it goes
  // with the Pod at uninstall, when the Pod can no longer release it).
  const lease = await eventually(
    'the operator to hold its Lease',
    async () => {
      const l = await getJson<{
        metadata: { ownerReferences?: { kind: string; name: string; uid: string }[] };
        spec: { holderIdentity?: string };
      }>(['lease', '-n', ns, 'safesquid-operator']);
      return l?.spec.holderIdentity ? l : undefined;
    },
    60_000,
  );
  expect(lease.spec.holderIdentity).toContain(operator.name);
  expect(lease.metadata.ownerReferences).toEqual([
    expect.objectContaining({ apiVersion: 'v1', kind: 'Pod', name: operator.name, uid: operator.uid }),
  ]);

  const t1 = Date.now();
  await applyObjects(
    ns,
    adaptedSamples({ image: PROXY_IMAGE, nodeIp: node.nodeIp, connectPorts: [upstreams.httpsPort] }),
  );
  const [master] = await readyPods(ns, MASTER_PODS, 1, 180_000);
  slaves = await readyPods(ns, SLAVE_PODS, 2, 180_000);
  figures.samplesToReadyMs = Date.now() - t1;
  figures.podStartMs = Object.fromEntries(
    [master, ...slaves].map((p) => [p.name, (p.readyAt ?? Date.now()) - p.created]),
  );
  expect(slaves.map((s) => s.name)).toEqual([`${CLUSTER}-slave-0`, `${CLUSTER}-slave-1`]);
  for (const p of [master, ...slaves]) expect(p.image).toBe(PROXY_IMAGE);

  const conditions = await eventually(
    'Ready, MasterAvailable, SlavesAvailable and PolicySynced True',
    async () => {
      const c = await clusterConditions(ns);
      const t = (type: string) => c.find((x) => x.type === type)?.status === 'True';
      return ['Ready', 'MasterAvailable', 'SlavesAvailable', 'PolicySynced'].every(t) ? c : undefined;
    },
    120_000,
  ).catch(async (err) => {
    throw new Error(`${(err as Error).message}: ${JSON.stringify(await clusterConditions(ns))}`);
  });
  expect(conditions.find((c) => c.type === 'Degraded')?.status ?? 'False').toBe('False');
  proxyIp = await serviceIp(ns, `${CLUSTER}-proxy`);
});

test('through the corp-proxy Service: allowed 200, denied 403 naming the rule, CONNECT allowed and refused, both slaves serving', async () => {
  need('the gateway', proxyIp !== '');
  // kube-proxy programs the Service within its sync period.
  const first = await eventually(
    'the proxy Service answering',
    () => proxyGet(proxyIp, PROXY_PORT, upstreamUrl('/first')).catch(() => undefined),
    30_000,
  );
  expect(first).toMatchObject({ status: 200, body: 'ok /first' });

  const servedBy = new Set<string>();
  for (let i = 0; i < 40 && servedBy.size < 2; i++) {
    const r = await proxyGet(proxyIp, PROXY_PORT, upstreamUrl(`/allowed/${i}`));
    expect(r).toMatchObject({ status: 200, body: `ok /allowed/${i}` });
    servedBy.add(r.slave);
  }
  expect([...servedBy].sort()).toEqual(slaves.map((s) => s.name));

  // deploy/samples' corp-downloads: malware.test is in the `malware` category.
  const denied = await proxyGet(proxyIp, PROXY_PORT, 'http://malware.test/payload');
  expect(denied.status).toBe(403);
  expect(denied.body).toContain('block-malware');
  expect(denied.body).toContain('This site is known to distribute malware');

  const tunnel = await proxyConnect(
    proxyIp,
    PROXY_PORT,
    `${node.nodeIp}:${upstreams.httpsPort}`,
    upstreams.ca,
    '/secret',
  );
  expect(tunnel).toMatchObject({ status: 200, tunnelled: { status: 200, body: 'ok /secret' } });
  // Port 80 is not among the sample's connectPorts (443 and the test's HTTPS port).
  const wrongPort = await proxyConnect(proxyIp, PROXY_PORT, `${node.nodeIp}:${upstreams.httpPort}`, upstreams.ca);
  expect(wrongPort.status).toBe(403);
  const deniedHost = await proxyConnect(proxyIp, PROXY_PORT, 'malware.test:443', upstreams.ca);
  expect(deniedHost.status).toBe(403);
  expect(deniedHost.body).toContain('block-malware');
});

test('a changed PolicySet is enforced by every slave pod: p50/p99 over 20 changes, apply to enforced', async () => {
  need('the gateway', proxyIp !== '');
  const downloads = sampleObjects().find((o) => o.kind === 'PolicySet' && o.metadata.name === 'corp-downloads');
  if (!downloads) throw new Error('deploy/samples has no PolicySet corp-downloads');
  const delays: number[] = [];
  // Per change, each slave's delay (in `slaves` order): which one lags, for an outlier; and how long
  // `kubectl apply` itself took (the API server's share).
  const bySlave: number[][] = [];
  const applyMs: number[] = [];
  const outliers: string[] = [];
  for (let i = 0; i < 20; i++) {
    const rule = `e2e-change-${i}`;
    const changed = structuredClone(downloads);
    changed.spec.rules = [
      { name: rule, action: 'deny', message: `change ${i}`, match: { urlRegex: `^/change/${i}$` } },
      ...changed.spec.rules,
    ];
    const t0 = Date.now();
    await applyObjects(ns, [changed]);
    applyMs.push(Date.now() - t0);
    // Each slave by its pod IP, so "every slave" is each one, not whichever the Service picks.
    const perSlave = await Promise.all(
      slaves.map((s) =>
        eventually(
          `${s.name} to enforce ${rule}`,
          async () => {
            const r = await proxyGet(s.ip, PROXY_PORT, upstreamUrl(`/change/${i}`));
            return r.status === 403 && r.body.includes(rule) ? Date.now() - t0 : undefined;
          },
          30_000,
        ),
      ),
    );
    delays.push(Date.now() - t0);
    bySlave.push(perSlave);
    if (Date.now() - t0 > 2000) outliers.push(await outlierLogs(i, t0));
  }
  figures.policyPropagationMs = {
    p50: percentile(delays, 50),
    p99: percentile(delays, 99),
    max: Math.max(...delays),
    samples: delays.length,
    bySlave,
    applyMs,
    outliers,
  };
  console.log(
    `policy propagation over ${delays.length} changes: p50 ${percentile(delays, 50)} ms, p99 ${percentile(delays, 99)} ms (target p99 <= 2000 ms)`,
  );
  // The last change stays: rules from earlier changes are gone from every slave.
  for (const s of slaves) expect((await proxyGet(s.ip, PROXY_PORT, upstreamUrl('/change/0'))).status).toBe(200);
});

/**
 * For a policy change slower than the 2 s target: the operator's, master's and slaves' logs around
 * it (with the API server's timestamps), kept in .run/e2e-kube/ to tell which hop held it up.
 */
async function outlierLogs(change: number, t0: number): Promise<string> {
  const file = join(ROOT, '.run', 'e2e-kube', `policy-outlier-${change}.log`);
  const parts = [`change ${change} applied at ${new Date(t0).toISOString()}`];
  for (const selector of [OPERATOR_PODS, MASTER_PODS, SLAVE_PODS]) {
    for (const p of await pods(ns, selector)) {
      const r = await kubectl(['logs', '-n', ns, p.name, '--timestamps', '--since=90s']);
      parts.push(`==== ${p.name}`, r.stdout, r.stderr);
    }
  }
  mkdirSync(join(ROOT, '.run', 'e2e-kube'), { recursive: true });
  writeFileSync(file, parts.join('\n'));
  console.log(`policy change ${change} took ${Date.now() - t0} ms: logs in ${file}`);
  return file;
}

/** The master's report API from the host through the corp-master Service, with the admin token. */
async function reports(path: string): Promise<any> {
  const ip = await serviceIp(ns, `${CLUSTER}-master`);
  const token = await secretValue(ns, `${CLUSTER}-admin`, 'token');
  const res = await fetch(`http://${ip}:8888/api/v1/reports${path}`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(5000),
  });
  if (res.status !== 200) throw new Error(`GET /api/v1/reports${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

test('the master reports exactly the requests sent, per slave', async () => {
  need('the gateway', proxyIp !== '');
  const from = Date.now();
  const sent = new Map<string, { requests: number; blocked: number }>();
  const count = (slave: string, blocked: boolean) => {
    const c = sent.get(slave) ?? { requests: 0, blocked: 0 };
    c.requests++;
    if (blocked) c.blocked++;
    sent.set(slave, c);
  };
  for (let i = 0; i < 30; i++) {
    const r = await proxyGet(proxyIp, PROXY_PORT, upstreamUrl(`/report/${i}`));
    expect(r.status).toBe(200);
    count(r.slave, false);
  }
  for (let i = 0; i < 10; i++) {
    const r = await proxyGet(proxyIp, PROXY_PORT, `http://malware.test/report/${i}`);
    expect(r.status).toBe(403);
    count(r.slave, true);
  }
  const to = Date.now() + 1;
  const expected = [...sent.entries()].map(([slave, c]) => expect.objectContaining({ slave, ...c }));
  const window = `from=${from}&to=${to}`;
  await eventually(
    '40 records at the master',
    async () => ((await reports(`/summary?${window}`)).requests === 40 ? true : undefined),
    30_000,
  );
  const perSlave = await reports(`/per-slave?${window}`);
  expect(perSlave).toHaveLength(sent.size);
  expect(perSlave).toEqual(expect.arrayContaining(expected));
});

/** The per-slave report for [from, to] once it holds `total` records (more fails at once). */
async function perSlaveOnceComplete(
  from: number,
  to: number,
  total: number,
  timeoutMs = 60_000,
): Promise<{ slave: string; requests: number; blocked: number }[]> {
  const window = `from=${from}&to=${to}`;
  let last = 0;
  await eventually(
    `${total} records at the master`,
    async () => {
      last = (await reports(`/summary?${window}`).catch(() => ({ requests: -1 }))).requests;
      if (last > total) throw new Error(`the master holds ${last} records for ${total} requests sent`);
      return last === total ? true : undefined;
    },
    timeoutMs,
  ).catch((err) => {
    throw new Error(`${(err as Error).message} (last count ${last})`);
  });
  return reports(`/per-slave?${window}`);
}

function expectReportsToMatch(
  report: { slave: string; requests: number; blocked: number }[],
  tally: Map<string, { requests: number; blocked: number }>,
): void {
  const got = Object.fromEntries(report.map((r) => [r.slave, { requests: r.requests, blocked: r.blocked }]));
  expect(got).toEqual(Object.fromEntries(tally));
}

test('a slave pod deleted under steady traffic: no acknowledged record lost; its replacement enforces the policy when Ready', async () => {
  need('the gateway', proxyIp !== '');
  const victim = slaves[0];
  const from = Date.now();
  const traffic = steadyTraffic(
    proxyIp,
    PROXY_PORT,
    (i) => upstreamUrl(`/steady/${i}`),
    (i) => `http://malware.test/steady/${i}`,
    { maxRequests: 1500, maxMs: 90_000, intervalMs: 20 },
  );
  await new Promise((r) => setTimeout(r, 2000));
  const t0 = Date.now();
  await kubectlOk(['delete', 'pod', '-n', ns, victim.name, '--wait=false']);
  // The replacement (same name, new pod) must enforce the policy of the last change as soon as it is Ready.
  const replacement = await eventually(
    `a Ready replacement of ${victim.name}`,
    async () => {
      const p = (await pods(ns, SLAVE_PODS)).find((x) => x.name === victim.name && x.uid !== victim.uid && x.ready);
      return p;
    },
    120_000,
  );
  const enforced = await proxyGet(replacement.ip, PROXY_PORT, upstreamUrl('/change/19'));
  figures.slaveReplacementReadyMs = Date.now() - t0;
  expect(enforced.status).toBe(403);
  expect(enforced.body).toContain('e2e-change-19');
  await new Promise((r) => setTimeout(r, 3000));
  const tally = await traffic.stop();
  // The check above is a record too.
  const c = tally.acknowledged.get(enforced.slave) ?? { requests: 0, blocked: 0 };
  tally.acknowledged.set(enforced.slave, { requests: c.requests + 1, blocked: c.blocked + 1 });
  const to = Date.now() + 1;
  slaves = await readyPods(ns, SLAVE_PODS, 2);
  const acknowledged = [...tally.acknowledged.values()].reduce((n, c) => n + c.requests, 0);
  figures.slaveDeletion = {
    sent: tally.sent + 1,
    acknowledged,
    failed: tally.failures.length,
    firstFailures: tally.failures.slice(0, 5),
  };
  console.log(
    `slave deletion under traffic: ${tally.sent + 1} sent, ${acknowledged} acknowledged, ${tally.failures.length} failed`,
  );
  expectReportsToMatch(await perSlaveOnceComplete(from, to, acknowledged), tally.acknowledged);
});

test('the master pod deleted: the slaves keep enforcing, and the records arrive once it is back', async () => {
  need('the gateway', proxyIp !== '');
  const [master] = await readyPods(ns, MASTER_PODS, 1);
  await kubectlOk(['delete', 'pod', '-n', ns, master.name, '--wait=false']);
  await eventually(
    'the master pod gone',
    async () => ((await pods(ns, MASTER_PODS)).some((p) => p.uid === master.uid) ? undefined : true),
    90_000,
  );
  const from = Date.now();
  const tally = new Map<string, { requests: number; blocked: number }>();
  for (let i = 0; i < 20; i++) {
    const denied = i % 4 === 3;
    const r = await proxyGet(
      proxyIp,
      PROXY_PORT,
      denied ? `http://malware.test/masterless/${i}` : upstreamUrl(`/masterless/${i}`),
    );
    expect(r.status).toBe(denied ? 403 : 200);
    if (denied) expect(r.body).toContain('block-malware');
    const c = tally.get(r.slave) ?? { requests: 0, blocked: 0 };
    c.requests++;
    if (denied) c.blocked++;
    tally.set(r.slave, c);
  }
  // And the last policy change still holds on each slave.
  for (const s of slaves) {
    expect((await proxyGet(s.ip, PROXY_PORT, upstreamUrl('/change/19'))).status).toBe(403);
    const c = tally.get(s.name) ?? { requests: 0, blocked: 0 };
    tally.set(s.name, { requests: c.requests + 1, blocked: c.blocked + 1 });
  }
  const to = Date.now() + 1;
  await readyPods(ns, MASTER_PODS, 1, 120_000);
  expectReportsToMatch(await perSlaveOnceComplete(from, to, 20 + slaves.length), tally);
});

test('Prometheus discovering the pods from the API server (role pod): up=1 for the operator, the master and each slave; per-slave counters agree', async () => {
  need('the gateway', proxyIp !== '');
  const kubeconfig = process.env.KUBECONFIG;
  if (!kubeconfig) throw new Error('KUBECONFIG is not set (the e2e-kube globalSetup sets it)');
  const prom = await startKubernetesPrometheus(kubeconfig, ns);
  try {
    const [operator] = await readyPods(ns, OPERATOR_PODS, 1);
    const [master] = await readyPods(ns, MASTER_PODS, 1);
    slaves = await readyPods(ns, SLAVE_PODS, 2);
    const expected = Object.fromEntries([
      [operator.name, 'operator'],
      [master.name, 'master'],
      ...slaves.map((s) => [s.name, 'slave']),
    ]);
    let up: Record<string, number> = {};
    await eventually(
      'up=1 for every pod',
      async () => {
        up = Object.fromEntries(
          (await prom.query('up')).map((s) => [`${s.metric.pod}/${s.metric.component}`, s.value]),
        );
        return Object.entries(expected).every(([pod, component]) => up[`${pod}/${component}`] === 1) ? true : undefined;
      },
      60_000,
    ).catch((err) => {
      throw new Error(`${(err as Error).message}: up is ${JSON.stringify(up)}`);
    });

    // Counters only move with traffic: read them once two scrapes a few seconds apart agree.
    const counters = async () =>
      Object.fromEntries(
        (await prom.query('sum by (pod) (safesquid_proxy_requests_total{component="slave"})')).map((s) => [
          s.metric.pod,
          s.value,
        ]),
      );
    let before = await counters();
    await eventually(
      "the slaves' counters to settle",
      async () => {
        await new Promise((r) => setTimeout(r, 2500));
        const now = await counters();
        const same = JSON.stringify(now) === JSON.stringify(before);
        before = now;
        return same && slaves.every((s) => before[s.name] !== undefined) ? true : undefined;
      },
      30_000,
    );
    const sent: Record<string, number> = {};
    for (const [k, s] of slaves.entries()) {
      sent[s.name] = 7 + 6 * k;
      for (let i = 0; i < sent[s.name]; i++)
        expect((await proxyGet(s.ip, PROXY_PORT, upstreamUrl(`/counted/${i}`))).status).toBe(200);
    }
    let delta: Record<string, number> = {};
    await eventually(
      'the counters to count what was sent',
      async () => {
        const now = await counters();
        delta = Object.fromEntries(slaves.map((s) => [s.name, now[s.name] - before[s.name]]));
        return JSON.stringify(delta) === JSON.stringify(sent) ? true : undefined;
      },
      20_000,
    ).catch((err) => {
      throw new Error(`${(err as Error).message}: sent ${JSON.stringify(sent)}, counted ${JSON.stringify(delta)}`);
    });
  } finally {
    await prom.stop();
  }
});

test('load through the Service drives the HPA: slaves scale up, get the policy and serve, then scale back down draining without a failed request', async () => {
  need('the gateway', proxyIp !== '');
  const metricsApi = await kubectl(['get', '--raw', '/apis/metrics.k8s.io/v1beta1/pods']);
  if (metricsApi.code !== 0) {
    console.log(
      `SKIPPED the HPA test: metrics-server is not serving metrics.k8s.io on the real node (${metricsApi.stderr.trim()})`,
    );
    return;
  }
  // The operator made the HPA from the cluster's slaves.scaleDown (gateway.ts: a short window).
  const hpa = await getJson<{
    spec: { minReplicas: number; behavior?: { scaleDown?: { stabilizationWindowSeconds?: number } } };
  }>(['hpa', '-n', ns, `${CLUSTER}-slave`]);
  expect(hpa?.spec.behavior?.scaleDown?.stabilizationWindowSeconds).toBe(SCALE_DOWN_WINDOW_SECONDS);
  const minReplicas = hpa!.spec.minReplicas;
  const before = (await readyPods(ns, SLAVE_PODS, minReplicas)).map((p) => p.name);
  // Load: parallel streams through the Service, bounded in count and time, until a third slave is Ready.
  const t0 = Date.now();
  const streams = Array.from({ length: 12 }, (_, k) =>
    steadyTraffic(
      proxyIp,
      PROXY_PORT,
      (i) => upstreamUrl(`/load/${k}/${i}`),
      (i) => `http://malware.test/load/${k}/${i}`,
      { maxRequests: 20_000, maxMs: 240_000, intervalMs: 0 },
    ),
  );
  let added: PodInfo[] = [];
  try {
    added = await eventually(
      'the HPA to add a Ready slave',
      async () => {
        const now = (await pods(ns, SLAVE_PODS)).filter((p) => !p.deleting && p.ready && !before.includes(p.name));
        return now.length > 0 ? now : undefined;
      },
      180_000,
    );
  } finally {
    await Promise.all(streams.map((s) => s.stop()));
  }
  const loadStopped = Date.now();
  figures.hpaScaleUpMs = loadStopped - t0;
  // Steady, light traffic from the load's end until the removed slaves are gone: what a client sees
  // while the HPA scales down (each removed slave answers /readyz 503 first, then drains).
  const light = steadyTraffic(
    proxyIp,
    PROXY_PORT,
    (i) => upstreamUrl(`/scale-down/${i}`),
    (i) => `http://malware.test/scale-down/${i}`,
    { maxRequests: 6000, maxMs: 420_000, intervalMs: 50 },
  );
  let tally;
  try {
    for (const s of added) {
      // The policy of the last change, and the upstream, from each new slave.
      const denied = await proxyGet(s.ip, PROXY_PORT, upstreamUrl('/change/19'));
      expect(denied.status).toBe(403);
      expect(denied.body).toContain('e2e-change-19');
      expect(await proxyGet(s.ip, PROXY_PORT, upstreamUrl('/from-new-slave'))).toMatchObject({
        status: 200,
        slave: s.name,
      });
    }
    console.log(
      `HPA: ${added.length} slave(s) added in ${figures.hpaScaleUpMs} ms of load; each enforces the policy and serves`,
    );
    // Back at minReplicas: the HPA's count, then only that many slave pods left (the others drained and gone).
    await eventually(
      `the HPA to want ${minReplicas} slaves`,
      async () => {
        const h = await getJson<{ status?: { desiredReplicas?: number } }>(['hpa', '-n', ns, `${CLUSTER}-slave`]);
        return h?.status?.desiredReplicas === minReplicas ? true : undefined;
      },
      300_000,
    );
    figures.hpaScaleDownDecidedMs = Date.now() - loadStopped;
    slaves = await eventually(
      `only ${minReplicas} Ready slave pods left`,
      async () => {
        const all = await pods(ns, SLAVE_PODS);
        return all.length === minReplicas && all.every((p) => p.ready) ? all : undefined;
      },
      120_000,
    );
    figures.hpaScaleDownMs = Date.now() - loadStopped;
  } finally {
    tally = await light.stop();
  }
  figures.hpa = {
    added: added.map((p) => p.name),
    scaleDownRequests: tally.sent,
    scaleDownFailures: tally.failures.length,
    firstFailures: tally.failures.slice(0, 5),
  };
  console.log(
    `HPA: from load stop, back to ${minReplicas} slaves decided in ${figures.hpaScaleDownDecidedMs} ms and the removed pods gone in ${figures.hpaScaleDownMs} ms ` +
      `(stabilization window ${SCALE_DOWN_WINDOW_SECONDS} s); steady traffic: ${tally.sent} requests, ${tally.failures.length} failed`,
  );
  expect(slaves.map((s) => s.name)).toEqual(before);
  expect(tally.failures).toEqual([]);
}, 600_000);

test('helm upgrade to a new tag, then the proxy image, under steady traffic: zero failed requests; uninstall leaves only the kept spool claims', async () => {
  need('the gateway', proxyIp !== '');
  const traffic = steadyTraffic(
    proxyIp,
    PROXY_PORT,
    (i) => upstreamUrl(`/upgrade/${i}`),
    (i) => `http://malware.test/upgrade/${i}`,
    { maxRequests: 6000, maxMs: 240_000, intervalMs: 20 },
  );
  const t0 = Date.now();
  await helmOk(
    ['upgrade', RELEASE, CHART, '-n', ns, ...chartValues(images.revisionTag), '--wait', '--timeout', '180s'],
    200_000,
  );
  const [operator] = await readyPods(ns, OPERATOR_PODS, 1);
  expect(operator.image).toBe(`safesquid/operator:${images.revisionTag}`);
  // The proxy's own rolling update: the SafeSquidCluster names the new tag.
  const newProxy = `docker.io/safesquid/proxy:${images.revisionTag}`;
  await kubectlOk([
    'patch',
    'safesquidcluster',
    '-n',
    ns,
    CLUSTER,
    '--type=merge',
    '-p',
    JSON.stringify({ spec: { image: newProxy } }),
  ]);
  await eventually(
    'master and slaves Ready on the new image',
    async () => {
      const all = [...(await pods(ns, MASTER_PODS)), ...(await pods(ns, SLAVE_PODS))].filter((p) => !p.deleting);
      return all.length >= 3 && all.every((p) => p.ready && p.image === newProxy) ? true : undefined;
    },
    240_000,
  );
  figures.upgradeMs = Date.now() - t0;
  await new Promise((r) => setTimeout(r, 3000));
  const tally = await traffic.stop();
  figures.upgradeTraffic = {
    sent: tally.sent,
    failed: tally.failures.length,
    firstFailures: tally.failures.slice(0, 5),
  };
  console.log(`upgrade under traffic: ${tally.sent} requests, ${tally.failures.length} failed`);
  expect(tally.failures).toEqual([]);

  await kubectlOk(['delete', 'safesquidcluster', '-n', ns, CLUSTER, '--wait=true', '--timeout=120s']);
  const tUninstall = Date.now();
  await helmOk(['uninstall', RELEASE, '-n', ns, '--wait', '--timeout', '120s'], 150_000);
  figures.helmUninstallMs = Date.now() - tUninstall;
  const left = async (kinds: string) =>
    ((await getJson<{ items: any[] }>([kinds, '-n', ns]))?.items ?? []).map((o) => `${o.kind}/${o.metadata.name}`);
  await eventually(
    'the namespace emptied of the release and the cluster',
    async () => {
      const rest = await left(
        'deployments,statefulsets,services,pods,configmaps,secrets,serviceaccounts,roles,rolebindings,hpa,pdb,networkpolicies,leases',
      );
      // The namespace's own objects and the users Secret the user applied. Not the operator's Lease:
      // helm does not know it (the operator creates it), and the last operator Pod cannot release
      // it (helm deletes the RBAC while that Pod stops), but the garbage collector deletes it with
      // the Pod that owns it.
      const extra = rest.filter(
        (o) => !['ConfigMap/kube-root-ca.crt', 'Secret/proxy-users', 'ServiceAccount/default'].includes(o),
      );
      return extra.length === 0 ? true : undefined;
    },
    120_000,
  ).catch(async (err) => {
    throw new Error(
      `${(err as Error).message}: left ${JSON.stringify(await left('deployments,statefulsets,services,pods,configmaps,secrets,serviceaccounts,roles,rolebindings,hpa,pdb,networkpolicies,leases'))}`,
    );
  });
  figures.uninstallToEmptyMs = Date.now() - tUninstall;
  // slaves.spool.retainOnDelete (default true) keeps the spool claims; the master's goes with the cluster.
  const pvcs = (await left('pvc')).sort();
  expect(pvcs).toEqual(
    expect.arrayContaining([
      `PersistentVolumeClaim/state-${CLUSTER}-slave-0`,
      `PersistentVolumeClaim/state-${CLUSTER}-slave-1`,
    ]),
  );
  for (const p of pvcs) expect(p).toMatch(new RegExp(`^PersistentVolumeClaim/state-${CLUSTER}-slave-\\d+$`));
  const clusterWide = await kubectl([
    'get',
    'clusterroles,clusterrolebindings',
    '-l',
    `app.kubernetes.io/instance=${RELEASE}`,
    '-o',
    'name',
  ]);
  expect(clusterWide.stdout.trim()).toBe('');
  proxyIp = '';
});
