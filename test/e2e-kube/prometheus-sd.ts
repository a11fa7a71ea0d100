/**
 * Prometheus on the host, finding the gateway's pods the way a cluster's own Prometheus does:
 * service discovery of role pod against the API server, with the credentials of a kubeconfig,
 * scraping each pod by its IP over the pod network. Masters and slaves are found by the
 * prometheus.io/* annotations the operator puts on them, the operator by its `metrics` port.
 *
 * Debian's prometheus (2.42) is built without kubernetes_sd_configs ("field kubernetes_sd_configs
 * not found"; Debian does not package client-go). With such a binary the same relabelling runs on
 * http_sd_configs fed by podDiscovery(): the API server's pod list as the same
 * __meta_kubernetes_pod_* labels kubernetes_sd_configs role pod gives. Which one ran is returned.
 */
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { getJson } from '../cluster/kubectl.js';
import { readyInDir, startChild } from '../support/child-process.js';
import { freePort } from '../support/free-port.js';
import { PROMETHEUS, PROMTOOL, type RunningPrometheus } from '../support/prometheus.js';
import { tempDir } from '../support/temp-dir.js';
import { until } from '../support/until.js';

type Discovery = { kubernetes_sd_configs: object[] } | { http_sd_configs: object[] };

/** The scrape configuration: jobs `safesquid` (master and slaves) and `safesquid-operator`, labels `pod` and `component`. */
export function podScrapeConfig(discovery: Discovery): object {
  const common = [
    { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
    { source_labels: ['__meta_kubernetes_pod_phase'], regex: 'Pending|Succeeded|Failed', action: 'drop' },
  ];
  return {
    global: { scrape_interval: '1s', scrape_timeout: '1s' },
    scrape_configs: [
      {
        job_name: 'safesquid',
        ...discovery,
        relabel_configs: [
          { source_labels: ['__meta_kubernetes_pod_annotation_prometheus_io_scrape'], regex: 'true', action: 'keep' },
          // One target per pod: the pod role lists every container port.
          { source_labels: ['__meta_kubernetes_pod_container_port_name'], regex: 'metrics|portal', action: 'keep' },
          { source_labels: ['__meta_kubernetes_pod_ip', '__meta_kubernetes_pod_annotation_prometheus_io_port'], regex: '(.+);(.+)', replacement: '$1:$2', target_label: '__address__' },
          { source_labels: ['__meta_kubernetes_pod_annotation_prometheus_io_path'], regex: '(.+)', target_label: '__metrics_path__' },
          { source_labels: ['__meta_kubernetes_pod_label_app_kubernetes_io_component'], target_label: 'component' },
          ...common,
        ],
      },
      {
        job_name: 'safesquid-operator',
        ...discovery,
        relabel_configs: [
          { source_labels: ['__meta_kubernetes_pod_label_app_kubernetes_io_name'], regex: 'safesquid-operator', action: 'keep' },
          { source_labels: ['__meta_kubernetes_pod_container_port_name'], regex: 'metrics', action: 'keep' },
          { target_label: 'component', replacement: 'operator' },
          ...common,
        ],
      },
    ],
  };
}

const metaName = (s: string) => s.replace(/[^a-zA-Z0-9_]/g, '_');

/** The pods of `namespace` as kubernetes_sd_configs role pod lists them: one target per container port. */
export async function podTargets(namespace: string): Promise<{ targets: string[]; labels: Record<string, string> }[]> {
  const pods = (await getJson<{ items: any[] }>(['pods', '-n', namespace]))?.items ?? [];
  return pods.filter((p) => p.status.podIP).flatMap((p) => {
    const labels: Record<string, string> = {
      __meta_kubernetes_namespace: namespace,
      __meta_kubernetes_pod_name: p.metadata.name,
      __meta_kubernetes_pod_ip: p.status.podIP,
      __meta_kubernetes_pod_phase: p.status.phase,
      __meta_kubernetes_pod_node_name: p.spec.nodeName ?? '',
    };
    for (const [k, v] of Object.entries<string>(p.metadata.labels ?? {})) labels[`__meta_kubernetes_pod_label_${metaName(k)}`] = v;
    for (const [k, v] of Object.entries<string>(p.metadata.annotations ?? {})) labels[`__meta_kubernetes_pod_annotation_${metaName(k)}`] = v;
    return p.spec.containers.flatMap((c: any) => (c.ports ?? []).map((port: any) => ({
      targets: [`${p.status.podIP}:${port.containerPort}`],
      labels: {
        ...labels,
        __meta_kubernetes_pod_container_name: c.name,
        __meta_kubernetes_pod_container_port_name: port.name ?? '',
        __meta_kubernetes_pod_container_port_number: String(port.containerPort),
      },
    })));
  });
}

/** Whether this prometheus knows kubernetes_sd_configs (promtool of the same build checks a config using it). */
async function hasKubernetesSd(dir: string, kubeconfig: string): Promise<boolean> {
  const file = join(dir, 'probe.yml');
  writeFileSync(file, JSON.stringify({ scrape_configs: [{ job_name: 'probe', kubernetes_sd_configs: [{ role: 'pod', kubeconfig_file: kubeconfig }] }] }));
  try {
    await promisify(execFile)(PROMTOOL, ['check', 'config', '--syntax-only', file]);
    return true;
  } catch (err) {
    if (/kubernetes_sd_configs not found/.test((err as { stdout?: string; stderr?: string }).stderr ?? '') ||
      /kubernetes_sd_configs not found/.test((err as { stdout?: string }).stdout ?? '')) return false;
    throw new Error(`promtool check config: ${(err as Error).message}`);
  }
}

export interface KubernetesPrometheus extends RunningPrometheus {
  discovery: 'kubernetes_sd_configs' | 'http_sd_configs';
}

/** Prometheus on 127.0.0.1 discovering the pods of `namespace`; stop() (by PID) also closes the SD server and removes its files. */
export async function startKubernetesPrometheus(kubeconfig: string, namespace: string): Promise<KubernetesPrometheus> {
  const dir = tempDir('prometheus-sd');
  let sdServer: http.Server | undefined;
  let discovery: Discovery;
  if (await hasKubernetesSd(dir.path, kubeconfig)) {
    discovery = { kubernetes_sd_configs: [{ role: 'pod', kubeconfig_file: kubeconfig, namespaces: { names: [namespace] } }] };
  } else {
    const server = http.createServer((_req, res) => {
      podTargets(namespace).then(
        (groups) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(groups)),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    });
    sdServer = server;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    discovery = { http_sd_configs: [{ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/pods`, refresh_interval: '2s' }] };
  }
  const closeSd = () => new Promise<void>((r) => (sdServer ? sdServer.close(() => r()) : r()));
  const port = await freePort();
  const config = join(dir.path, 'prometheus.yml');
  writeFileSync(config, JSON.stringify(podScrapeConfig(discovery)));
  const child = startChild('prometheus', PROMETHEUS, [
    `--config.file=${config}`,
    `--storage.tsdb.path=${join(dir.path, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
  ], { stopGraceMs: 5000 });
  const url = `http://127.0.0.1:${port}`;
  const ready = await readyInDir(child, dir, () =>
    until('prometheus ready', async () => {
      if (!child.running()) throw new Error(`prometheus exited with ${child.exitDescription()}:\n${child.outputTail()}`);
      return (await fetch(`${url}/-/ready`).then((r) => r.ok, () => false)) || undefined;
    }, 20_000, 100),
  ).catch(async (err) => {
    await closeSd();
    throw err;
  });
  const stop = ready.stop.bind(ready);
  return Object.assign(ready, {
    url,
    discovery: 'kubernetes_sd_configs' in discovery ? 'kubernetes_sd_configs' as const : 'http_sd_configs' as const,
    async stop(signal?: NodeJS.Signals) {
      const code = await stop(signal);
      await closeSd();
      return code;
    },
    async query(promql: string) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } };
      if (body.status !== 'success' || body.data?.resultType !== 'vector') throw new Error(`prometheus query ${promql}: ${body.error ?? JSON.stringify(body)}`);
      return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
  });
}
