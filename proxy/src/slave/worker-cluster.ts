/**
 * `--workers N`: N slave processes share the listen sockets (node:cluster). Each worker is a
 * complete slave (policy, proxy, and with a master its own sync client and report spool); the
 * primary serves /metrics summed over the workers, /healthz and /readyz (ready when every worker
 * enforces a policy), restarts a worker that dies, and on SIGTERM drains them all.
 */
import cluster, { type Worker } from 'node:cluster';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { waitOutDrainDelay } from './drain-delay.js';
import type { CompiledPolicy } from '../policy/decision.js';
import { MetricsServer } from './metrics-server.js';
import { servedClients } from './served-clients.js';
import type { Endpoint } from './ssrf-guard.js';
import type { HostPort } from './slave.js';
import { mergeWorkerStatuses, type SlaveStatus } from './slave-status.js';
import { LOG } from '../log-messages.js';

const METRICS_ENV = 'SAFESQUID_PRIMARY_METRICS';
const RESTART_DELAY_MS = 1000;

type WorkerMessage =
  | { type: 'safesquid:listening'; addresses: Array<{ address: string; port: number }>; clients: string }
  | { type: 'safesquid:policy'; hash: string | undefined }
  | { type: 'safesquid:status'; status: SlaveStatus };

/** How often a worker sends the primary what its /status would show. */
const STATUS_EVERY_MS = 2000;

export function isClusterWorker(): boolean {
  return cluster.isWorker;
}

/** In a worker: the primary's metrics endpoint, which the SSRF guard must also refuse. */
export function primaryEndpoints(): Endpoint[] {
  const text = process.env[METRICS_ENV];
  return text ? (JSON.parse(text) as Endpoint[]) : [];
}

/** In a worker: lets the primary aggregate this registry and know the worker's state. */
export function reportToPrimary(
  registry: Registry,
  addresses: AddressInfo[],
  policy: { hash: string | undefined; current: CompiledPolicy | undefined; on(e: 'change', l: () => void): unknown },
  status?: () => Promise<SlaveStatus>,
): void {
  AggregatorRegistry.setRegistries([registry]);
  // prom-client installs the worker's answer to the primary's metrics requests on construction.
  new AggregatorRegistry();
  const send = (m: WorkerMessage): void => {
    if (process.connected) process.send?.(m);
  };
  send({
    type: 'safesquid:listening',
    addresses: addresses.map((a) => ({ address: a.address, port: a.port })),
    clients: servedClients(policy.current),
  });
  send({ type: 'safesquid:policy', hash: policy.hash });
  policy.on('change', () => send({ type: 'safesquid:policy', hash: policy.hash }));
  if (status) {
    // The primary serves /status for the whole slave: it does not proxy, the workers know.
    const tell = () =>
      void status().then(
        (s) => send({ type: 'safesquid:status', status: s }),
        () => {},
      );
    tell();
    setInterval(tell, STATUS_EVERY_MS).unref();
  }
}

export interface PrimaryOptions {
  workers: number;
  metricsListen?: HostPort;
  shutdownGraceMs: number;
  /** /readyz answers 503 this long before the workers are told to stop. */
  drainDelayMs: number;
  logger: Logger;
}

/** Runs the primary; resolves with the function that shuts the cluster down. */
export async function runPrimary(opts: PrimaryOptions): Promise<() => Promise<void>> {
  const { logger } = opts;
  const hashes = new Map<number, string | undefined>();
  const statuses = new Map<number, SlaveStatus>();
  const aggregator = new AggregatorRegistry();
  let stopping = false;
  let metrics: MetricsServer | undefined;
  let metricsAddress: AddressInfo | undefined;
  if (opts.metricsListen) {
    metrics = new MetricsServer({
      metrics: async () => ({ contentType: aggregator.contentType, body: await aggregator.clusterMetrics() }),
      readiness: () => {
        if (stopping) return { ready: false, detail: 'not ready: shutting down' };
        const live = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && !w.isDead());
        const without = live.filter((w) => !hashes.get(w.id));
        if (live.length === 0 || without.length > 0) {
          return { ready: false, detail: `not ready: ${without.length} of ${live.length} workers have no policy yet` };
        }
        return {
          ready: true,
          detail: `ready: ${live.length} workers, policy ${[...new Set(live.map((w) => hashes.get(w.id)))].join(', ')}`,
        };
      },
      status: () => {
        const all = [...statuses.entries()].sort(([a], [b]) => a - b).map(([, s]) => s);
        return all.length
          ? Promise.resolve(mergeWorkerStatuses(all))
          : Promise.reject(new Error('no worker has reported its status yet'));
      },
    });
    metricsAddress = await metrics.listen(opts.metricsListen.host, opts.metricsListen.port);
  }
  const env = {
    [METRICS_ENV]: JSON.stringify(
      metricsAddress ? [{ address: metricsAddress.address, port: metricsAddress.port }] : [],
    ),
  };

  let announce: ((addresses: string[]) => void) | undefined;
  const listening = new Promise<string[]>((resolve) => (announce = resolve));
  const listeningWorkers = new Set<number>();
  let clients = '';
  const fork = (): void => {
    const worker = cluster.fork(env);
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'safesquid:policy') hashes.set(worker.id, m.hash);
      if (m.type === 'safesquid:status') statuses.set(worker.id, m.status);
      if (m.type === 'safesquid:listening') {
        listeningWorkers.add(worker.id);
        clients = m.clients;
        if (listeningWorkers.size === opts.workers) announce?.(m.addresses.map((a) => `${a.address}:${a.port}`));
      }
    });
  };
  cluster.on('exit', (worker, code, signal) => {
    hashes.delete(worker.id);
    statuses.delete(worker.id);
    if (stopping) return;
    logger.error({ worker: worker.id, pid: worker.process.pid, code, signal }, 'worker died; starting a new one');
    setTimeout(() => {
      if (!stopping) fork();
    }, RESTART_DELAY_MS);
  });
  for (let i = 0; i < opts.workers; i++) fork();

  const started = await Promise.race([
    listening,
    new Promise<never>((_, reject) => {
      cluster.once('exit', (worker, code) => {
        if (!listeningWorkers.has(worker.id))
          reject(new Error(`a worker exited with code ${code} before it was listening (see its log above)`));
      });
    }),
  ]).catch(async (err: Error) => {
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGKILL');
    await metrics?.close();
    throw err;
  });
  logger.info({ listen: started, metrics: metricsAddress?.port, workers: opts.workers, clients }, LOG.slaveStarted);

  return async () => {
    stopping = true;
    await waitOutDrainDelay(logger, opts.drainDelayMs);
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && !w.isDead());
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => w.kill('SIGKILL'), opts.shutdownGraceMs + 5000);
            w.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            w.process.kill('SIGTERM');
          }),
      ),
    );
    await metrics?.close();
  };
}
