#!/usr/bin/env node
/**
 * `safesquid-operator`: reconciles SafeSquidCluster and PolicySet resources. May run as PID 1 in a
 * container: SIGTERM and SIGINT are handled (finish the reconciles in progress, release the lease,
 * exit 0).
 */
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { parseOperatorArgs, USAGE, UsageError, type OperatorOptions } from './cli/args.js';
import { SafeSquidOperator } from './controller/operator.js';
import { KubeClient } from './kube/client.js';
import { loadKubeConnection } from './kube/kubeconfig.js';
import { LeaderElector } from './kube/leader-election.js';
import { OperatorMetrics, resourceOfPath, startHealthServer, verbOf } from './metrics.js';
import { OPERATOR_LOG } from './log-messages.js';

const SA_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
      .version;
  } catch {
    return 'unknown';
  }
}

function podNamespace(): string | undefined {
  if (process.env.POD_NAMESPACE) return process.env.POD_NAMESPACE;
  try {
    return readFileSync(SA_NAMESPACE_FILE, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * This Pod, from the downward API (POD_NAME, POD_UID), as the owner of the leader-election Lease
 * while it leads, so the Lease goes with the Pod when the Pod could not release it (helm uninstall
 * deletes the RBAC before the Pod stops). Only when the Lease is in the Pod's own namespace: an owner
 * reference across namespaces counts as a missing owner, and the garbage collector would delete the
 * Lease at once.
 */
function leaseOwnerPod(leaseNamespace: string, ownNamespace: string | undefined) {
  const name = process.env.POD_NAME;
  const uid = process.env.POD_UID;
  if (!name || !uid || leaseNamespace !== ownNamespace) return undefined;
  return { name, uid };
}

async function run(o: OperatorOptions): Promise<number> {
  const logger = pino({ name: 'safesquid-operator', level: o.logLevel, base: { pid: process.pid } });
  if (o.kubeconfig && !existsSync(o.kubeconfig)) throw new UsageError(`--kubeconfig ${o.kubeconfig}: no such file`);
  let connection;
  try {
    connection = await loadKubeConnection(o.kubeconfig);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const metrics = new OperatorMetrics();
  const client = new KubeClient(connection);
  client.observe((method, path, status) =>
    metrics.apiRequests.inc({ verb: verbOf(method, path), resource: resourceOfPath(path), code: String(status) }),
  );
  const identity = `${hostname()}_${randomUUID().slice(0, 8)}`;
  const ownNamespace = podNamespace();
  const operator = new SafeSquidOperator({
    client,
    logger,
    metrics,
    namespace: o.namespace,
    resyncMs: o.resyncMs,
    concurrency: o.concurrency,
    masterUrls: o.masterUrls,
    identity,
    // In a Pod: let the operator's own pods through the master's NetworkPolicy to read the slave registry.
    portalPeers: ownNamespace
      ? [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ownNamespace } },
            podSelector: { matchLabels: { 'app.kubernetes.io/name': 'safesquid-operator' } },
          },
        ]
      : undefined,
  });
  const health = await startHealthServer({
    host: o.metricsHost,
    port: o.metricsPort,
    metrics,
    ready: () => operator.synced,
  });
  operator.start();

  let elector: LeaderElector | undefined;
  let stopping = false;
  let resolveExit!: (code: number) => void;
  const exit = new Promise<number>((r) => (resolveExit = r));

  const shutdown = async (signal: string, code: number) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    metrics.leader.set(0);
    await operator.stopReconciling();
    await elector?.release();
    await operator.stop();
    await health.close();
    client.close();
    resolveExit(code);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM', 0));
  process.once('SIGINT', () => void shutdown('SIGINT', 0));

  if (o.leaderElect) {
    const leaseNamespace = o.leaseNamespace ?? o.namespace ?? ownNamespace ?? 'default';
    const ownerPod = leaseOwnerPod(leaseNamespace, ownNamespace);
    elector = new LeaderElector(
      client,
      {
        namespace: leaseNamespace,
        name: o.leaseName,
        identity,
        ownerPod,
        onStartedLeading: () => {
          metrics.leader.set(1);
          void operator.startReconciling();
        },
        onStoppedLeading: () => {
          // Another replica may be reconciling already: stop at once and let the Pod restart as a candidate.
          metrics.leader.set(0);
          void operator.stopReconciling().then(() => shutdown('leadership lost', 1));
        },
      },
      logger,
    );
    elector.start();
  } else {
    metrics.leader.set(1);
    void operator.startReconciling();
  }
  logger.info(
    {
      version: version(),
      identity,
      metrics: health.address,
      namespace: o.namespace ?? '(all)',
      leaderElect: o.leaderElect,
      server: client.server.origin,
      credentials: connection.source,
    },
    OPERATOR_LOG.started,
  );
  void operator.waitForSync().then(() => logger.info({}, 'caches synced'));
  return exit;
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseOperatorArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`safesquid-operator: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (parsed.kind === 'version') {
    process.stdout.write(`safesquid-operator ${version()}\n`);
    return 0;
  }
  try {
    return await run(parsed.options);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`safesquid-operator: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`safesquid-operator: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
