/**
 * Prometheus on the host, finding the gateway's pods the way a cluster's own Prometheus does:
 * service discovery of role pod against the API server, with the credentials of a kubeconfig,
 * scraping each pod by its IP over the pod network. Masters and slaves are found by the
 * prometheus.io/* annotations the operator puts on them, the operator by its `metrics` port.
 *
 * The binary is the one `make kube-binaries` builds from Prometheus's Go module: Debian's
 * prometheus is built without kubernetes_sd_configs (Debian does not package client-go).
 */
import { locateKubeBinaries } from '../cluster/kube-binaries.js';
import { startPrometheusWithConfig, type RunningPrometheus } from '../support/prometheus.js';

/** The scrape configuration: jobs `safesquid` (master and slaves) and `safesquid-operator`, labels `pod` and `component`. */
function podScrapeConfig(kubeconfig: string, namespace: string): object {
  const discovery = {
    kubernetes_sd_configs: [{ role: 'pod', kubeconfig_file: kubeconfig, namespaces: { names: [namespace] } }],
  };
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
          {
            source_labels: ['__meta_kubernetes_pod_ip', '__meta_kubernetes_pod_annotation_prometheus_io_port'],
            regex: '(.+);(.+)',
            replacement: '$1:$2',
            target_label: '__address__',
          },
          {
            source_labels: ['__meta_kubernetes_pod_annotation_prometheus_io_path'],
            regex: '(.+)',
            target_label: '__metrics_path__',
          },
          { source_labels: ['__meta_kubernetes_pod_label_app_kubernetes_io_component'], target_label: 'component' },
          ...common,
        ],
      },
      {
        job_name: 'safesquid-operator',
        ...discovery,
        relabel_configs: [
          {
            source_labels: ['__meta_kubernetes_pod_label_app_kubernetes_io_name'],
            regex: 'safesquid-operator',
            action: 'keep',
          },
          { source_labels: ['__meta_kubernetes_pod_container_port_name'], regex: 'metrics', action: 'keep' },
          { target_label: 'component', replacement: 'operator' },
          ...common,
        ],
      },
    ],
  };
}

/** Prometheus on 127.0.0.1 discovering the pods of `namespace` through the API server of `kubeconfig`. */
export async function startKubernetesPrometheus(kubeconfig: string, namespace: string): Promise<RunningPrometheus> {
  return startPrometheusWithConfig(
    locateKubeBinaries(['prometheus']).prometheus,
    podScrapeConfig(kubeconfig, namespace),
  );
}
