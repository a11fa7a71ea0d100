/**
 * Debian's Prometheus on the host, finding the gateway's pods the way a cluster's own Prometheus
 * does: Kubernetes service discovery (role pod) against the API server, with the credentials of a
 * kubeconfig, scraping each pod by its IP over the pod network. Masters and slaves are found by the
 * prometheus.io/* annotations the operator puts on them, the operator by its `metrics` port.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readyInDir, startChild } from '../support/child-process.js';
import { freePort } from '../support/free-port.js';
import { PROMETHEUS, type RunningPrometheus } from '../support/prometheus.js';
import { tempDir } from '../support/temp-dir.js';
import { until } from '../support/until.js';

/** The scrape configuration: jobs `safesquid` (master and slaves) and `safesquid-operator`, labels `pod` and `component`. */
export function kubernetesScrapeConfig(kubeconfig: string, namespace: string): object {
  const sd = [{ role: 'pod', kubeconfig_file: kubeconfig, namespaces: { names: [namespace] } }];
  const common = [
    { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
    { source_labels: ['__meta_kubernetes_pod_phase'], regex: 'Pending|Succeeded|Failed', action: 'drop' },
  ];
  return {
    global: { scrape_interval: '1s', scrape_timeout: '1s' },
    scrape_configs: [
      {
        job_name: 'safesquid',
        kubernetes_sd_configs: sd,
        relabel_configs: [
          { source_labels: ['__meta_kubernetes_pod_annotation_prometheus_io_scrape'], regex: 'true', action: 'keep' },
          // One target per pod: the port its annotation names (the pod role lists every container port).
          { source_labels: ['__meta_kubernetes_pod_container_port_name'], regex: 'metrics|portal', action: 'keep' },
          { source_labels: ['__meta_kubernetes_pod_ip', '__meta_kubernetes_pod_annotation_prometheus_io_port'], regex: '(.+);(.+)', replacement: '$1:$2', target_label: '__address__' },
          { source_labels: ['__meta_kubernetes_pod_annotation_prometheus_io_path'], regex: '(.+)', target_label: '__metrics_path__' },
          { source_labels: ['__meta_kubernetes_pod_label_app_kubernetes_io_component'], target_label: 'component' },
          ...common,
        ],
      },
      {
        job_name: 'safesquid-operator',
        kubernetes_sd_configs: sd,
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

/** Prometheus on 127.0.0.1 with Kubernetes service discovery of `namespace`; stop() by its PID removes its files. */
export async function startKubernetesPrometheus(kubeconfig: string, namespace: string): Promise<RunningPrometheus> {
  const dir = tempDir('prometheus-sd');
  const port = await freePort();
  const config = join(dir.path, 'prometheus.yml');
  writeFileSync(config, JSON.stringify(kubernetesScrapeConfig(kubeconfig, namespace)));
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
  );
  return Object.assign(ready, {
    url,
    async query(promql: string) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } };
      if (body.status !== 'success' || body.data?.resultType !== 'vector') throw new Error(`prometheus query ${promql}: ${body.error ?? JSON.stringify(body)}`);
      return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
  });
}
