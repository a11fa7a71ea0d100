// The Prometheus of `make kube-binaries` discovers pods through the API server (kubernetes_sd_configs,
// role pod), as the e2e-kube suite's Prometheus does on the real node. kwok's pod IPs lead nowhere,
// so only the discovery is checked here: a pod created after Prometheus started appears among its
// targets with the pod's labels, IP and port, and goes away when the pod is deleted.
import { locateKubeBinaries } from './kube-binaries.js';
import { createNamespace, eventually, getJson, kubectl, kubectlOk } from './kubectl.js';
import { startPrometheusWithConfig, type RunningPrometheus } from '../support/prometheus.js';

jest.setTimeout(120_000);

interface Target {
  discoveredLabels: Record<string, string>;
  labels: Record<string, string>;
  scrapePool: string;
}

let ns: string;
let prom: RunningPrometheus | undefined;

beforeAll(async () => {
  ns = await createNamespace('prom-sd');
});

afterAll(async () => {
  await prom?.stop();
  if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
});

async function activeTargets(): Promise<Target[]> {
  const res = await fetch(`${prom!.url}/api/v1/targets?state=active`);
  const body = (await res.json()) as { status: string; data: { activeTargets: Target[] } };
  if (body.status !== 'success') throw new Error(`prometheus /api/v1/targets: ${JSON.stringify(body)}`);
  return body.data.activeTargets;
}

const pod = (name: string) => `
apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: ${ns}
  labels: { app: sd-probe, app.kubernetes.io/component: slave }
  annotations: { prometheus.io/scrape: "true" }
spec:
  containers:
  - name: proxy
    image: safesquid.test/none:1
    ports: [{ name: metrics, containerPort: 9101 }]
`;

test('a pod created in the namespace becomes a target with its labels, IP and port; deleted, it goes away', async () => {
  const kubeconfig = process.env.KUBECONFIG;
  if (!kubeconfig) throw new Error("KUBECONFIG is not set (the cluster project's globalSetup sets it)");
  prom = await startPrometheusWithConfig(locateKubeBinaries(['prometheus']).prometheus, {
    // Scrapes of kwok's fake pod IPs fail; rarely, so they do not load the machine.
    global: { scrape_interval: '30s', scrape_timeout: '1s' },
    scrape_configs: [
      {
        job_name: 'pods',
        kubernetes_sd_configs: [{ role: 'pod', kubeconfig_file: kubeconfig, namespaces: { names: [ns] } }],
        relabel_configs: [
          { source_labels: ['__meta_kubernetes_pod_annotation_prometheus_io_scrape'], regex: 'true', action: 'keep' },
          { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
          { source_labels: ['__meta_kubernetes_pod_label_app_kubernetes_io_component'], target_label: 'component' },
        ],
      },
    ],
  });
  expect(await activeTargets()).toEqual([]);

  await kubectlOk(['apply', '-f', '-'], pod('probe-a'));
  const podIp = await eventually(
    'an IP for pod probe-a',
    async () =>
      (await getJson<{ status: { podIP?: string } }>(['-n', ns, 'pod', 'probe-a']))?.status.podIP || undefined,
  );
  const target = await eventually(
    'probe-a among the targets',
    async () => (await activeTargets()).find((t) => t.labels.pod === 'probe-a'),
    60_000,
  );
  expect(target.scrapePool).toBe('pods');
  expect(target.labels).toMatchObject({ instance: `${podIp}:9101`, pod: 'probe-a', component: 'slave', job: 'pods' });
  expect(target.discoveredLabels).toMatchObject({
    __address__: `${podIp}:9101`,
    __meta_kubernetes_namespace: ns,
    __meta_kubernetes_pod_ip: podIp,
    __meta_kubernetes_pod_label_app: 'sd-probe',
    __meta_kubernetes_pod_container_port_name: 'metrics',
    __meta_kubernetes_pod_container_name: 'proxy',
  });

  await kubectlOk(['-n', ns, 'delete', 'pod', 'probe-a', '--grace-period=0', '--force']);
  await eventually(
    'probe-a gone from the targets',
    async () => ((await activeTargets()).some((t) => t.labels.pod === 'probe-a') ? undefined : true),
    60_000,
  );
});
