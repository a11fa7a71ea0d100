import { parseArgs } from 'node:util';
import { UsageError } from '../errors.js';
export { UsageError };

export const USAGE = `usage: safesquid-operator [options]

Reconciles SafeSquidCluster and PolicySet resources (safesquid.io/v1alpha1).

options:
  --kubeconfig FILE         kubeconfig to use (default: $KUBECONFIG, then the in-cluster
                            service account when run in a Pod)
  --namespace NS            watch only this namespace (needs only the namespaced Role);
                            all namespaces when omitted (needs the ClusterRole)
  --leader-elect            take part in leader election on a coordination.k8s.io Lease;
                            only the leader reconciles
  --lease-namespace NS      namespace of the Lease (default: --namespace, else the Pod's
                            namespace, else "default")
  --lease-name NAME         name of the Lease (default safesquid-operator)
  --metrics-listen H:P      /metrics, /healthz, /readyz (default 0.0.0.0:9090; port 0 picks one)
  --resync-period SECONDS   reconcile every cluster at least this often (default 300)
  --concurrency N           clusters reconciled at once (default 16)
  --master-url NS/NAME=URL  reach that cluster's master at URL instead of its Service's
                            in-cluster DNS name (an operator run outside the cluster); repeatable
  --log-level LEVEL         fatal, error, warn, info, debug (default info)
  --version                 print the version and exit
  --help                    print this help and exit
`;

export interface OperatorOptions {
  kubeconfig?: string;
  namespace?: string;
  leaderElect: boolean;
  leaseNamespace?: string;
  leaseName: string;
  metricsHost: string;
  metricsPort: number;
  resyncMs: number;
  concurrency: number;
  masterUrls: Map<string, string>;
  logLevel: string;
}

export type ParsedArgs = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; options: OperatorOptions };

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function hostPort(flag: string, value: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535)
    throw new UsageError(`${flag} must be HOST:PORT (e.g. 0.0.0.0:9090 or [::1]:9090), got "${value}"`);
  return { host: m[1] ?? m[2], port };
}

function integer(flag: string, value: string | undefined, dflt: number, min: number, max: number): number {
  if (value === undefined) return dflt;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`${flag} must be a whole number from ${min} to ${max}, got "${value}"`);
  }
  return Number(value);
}

export function parseOperatorArgs(argv: string[]): ParsedArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        kubeconfig: { type: 'string' },
        namespace: { type: 'string' },
        'leader-elect': { type: 'boolean' },
        'lease-namespace': { type: 'string' },
        'lease-name': { type: 'string' },
        'metrics-listen': { type: 'string' },
        'resync-period': { type: 'string' },
        concurrency: { type: 'string' },
        'master-url': { type: 'string', multiple: true },
        'log-level': { type: 'string' },
        version: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  for (const flag of ['namespace', 'lease-namespace'] as const) {
    const v = values[flag];
    if (v !== undefined && !DNS_LABEL.test(v))
      throw new UsageError(`--${flag} must be a namespace name (lower-case letters, digits and '-'), got "${v}"`);
  }
  const leaseName = values['lease-name'] ?? 'safesquid-operator';
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(leaseName))
    throw new UsageError(`--lease-name must be a DNS subdomain name, got "${leaseName}"`);
  const { host, port } = hostPort('--metrics-listen', values['metrics-listen'] ?? '0.0.0.0:9090');
  const masterUrls = new Map<string, string>();
  for (const entry of values['master-url'] ?? []) {
    const m = /^([a-z0-9][-a-z0-9]*)\/([a-z0-9][-a-z0-9.]*)=(https?:\/\/\S+)$/.exec(entry);
    if (!m) throw new UsageError(`--master-url must be NAMESPACE/NAME=http(s)://HOST:PORT, got "${entry}"`);
    masterUrls.set(`${m[1]}/${m[2]}`, m[3].replace(/\/$/, ''));
  }
  const logLevel = values['log-level'] ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace'].includes(logLevel)) {
    throw new UsageError(`--log-level must be one of fatal, error, warn, info, debug, trace; got "${logLevel}"`);
  }
  return {
    kind: 'run',
    options: {
      kubeconfig: values.kubeconfig,
      namespace: values.namespace,
      leaderElect: values['leader-elect'] ?? false,
      leaseNamespace: values['lease-namespace'],
      leaseName,
      metricsHost: host,
      metricsPort: port,
      resyncMs: integer('--resync-period', values['resync-period'], 300, 1, 86_400) * 1000,
      concurrency: integer('--concurrency', values.concurrency, 16, 1, 64),
      masterUrls,
      logLevel,
    },
  };
}
