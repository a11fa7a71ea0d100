/**
 * One slave process: the active policy (state dir, then the policy file, then live reloads),
 * the forward proxy on its listen addresses, and the metrics/health endpoint.
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { CidrSet } from '../policy/cidr.js';
import { RecordQueue } from '../reports/record-queue.js';
import { AccessLog, type AccessLogFormat } from './access-log.js';
import { ActivePolicy } from './active-policy.js';
import { waitOutDrainDelay } from './drain-delay.js';
import type { ProxyAuthenticator } from './auth/index.js';
import { MetricsServer } from './metrics-server.js';
import { PolicyFileWatcher } from './policy-file.js';
import { ProxyMetrics } from './proxy-metrics.js';
import { ProxyServer } from './proxy-server.js';
import { servedClients } from './served-clients.js';
import { SlaveStatusBoard } from './slave-status.js';
import { packageVersion } from '../sync/package-version.js';
import type { Endpoint, Resolver } from './ssrf-guard.js';
import { LOG } from '../log-messages.js';

export interface HostPort {
  host: string;
  port: number;
}

export interface SlaveOptions {
  name: string;
  logger: Logger;
  listen: readonly HostPort[];
  /** Omitted: no metrics endpoint (workers of a cluster, whose primary serves it). */
  metricsListen?: HostPort;
  policyFile?: string;
  /**
   * `watch` (default): the file is the policy source, reloaded live. `initial`: another source
   * (the master) is authoritative; the file is only read at start when nothing was persisted.
   */
  policyFileMode?: 'watch' | 'initial';
  stateDir?: string;
  accessLog?: AccessLogFormat;
  authenticator?: ProxyAuthenticator;
  maxConnections?: number;
  maxTunnels?: number;
  headerTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** Access records queued for the master; 0: none are kept (no master to send them to). */
  queueCapacity?: number;
  /** Name resolution for the SSRF guard (tests stand in for DNS); default: the system resolver. */
  resolver?: Resolver;
  /** Endpoints of other processes of this slave (a cluster primary's metrics) the SSRF guard refuses. */
  extraOwnEndpoints?: () => readonly Endpoint[];
  /** A cluster worker logs "worker started"; "slave started" is the primary's to say. */
  role?: 'slave' | 'worker';
  /** CIDRs of load balancers that put a PROXY protocol header before each connection's bytes. */
  proxyProtocolFrom?: readonly string[];
}

export interface Slave {
  readonly active: ActivePolicy;
  /** Undefined with `queueCapacity: 0`. */
  readonly queue: RecordQueue | undefined;
  readonly registry: Registry;
  readonly proxy: ProxyServer;
  readonly proxyAddresses: AddressInfo[];
  readonly metricsAddress?: AddressInfo;
  /** What `/status` on the metrics port shows; `attach` it to the master link once there is one. */
  readonly status: SlaveStatusBoard;
  /**
   * Not ready at once (/readyz 503); still serving for `drainDelayMs`, so that load balancers take
   * the slave out first; then the listeners close and in-flight requests get `graceMs`.
   */
  stop(graceMs: number, drainDelayMs?: number): Promise<void>;
}

export async function startSlave(opts: SlaveOptions): Promise<Slave> {
  const { logger } = opts;
  const registry = new Registry();
  const queue = opts.queueCapacity === 0 ? undefined : new RecordQueue(opts.queueCapacity);
  const metrics = new ProxyMetrics(registry, queue);
  const active = new ActivePolicy({ stateDir: opts.stateDir, logger });
  active.on('change', (p) => metrics.setPolicyHash(p.hash));
  const status = new SlaveStatusBoard({ name: opts.name, version: packageVersion(), registry, policy: active });

  if (active.loadPersisted()) logger.info({ hash: active.hash }, 'enforcing the persisted last-known-good policy');
  let watcher: PolicyFileWatcher | undefined;
  const watchFile = (opts.policyFileMode ?? 'watch') === 'watch';
  if (opts.policyFile && (watchFile || !active.current)) {
    watcher = new PolicyFileWatcher({ path: opts.policyFile, active, logger });
    try {
      await watcher.load();
    } catch (err) {
      if (!active.current && watchFile)
        throw new Error(`cannot load the policy file ${opts.policyFile}: ${(err as Error).message}`);
      logger.error(
        { path: opts.policyFile, error: (err as Error).message, hash: active.hash },
        'the policy file is unusable; enforcing what else there is',
      );
    }
    if (watchFile) watcher.start();
    else watcher = undefined;
  }

  let metricsServer: MetricsServer | undefined;
  let stopping = false;
  let metricsEndpoints: Endpoint[] = [];
  const extraOwnEndpoints = (): readonly Endpoint[] =>
    opts.extraOwnEndpoints ? [...metricsEndpoints, ...opts.extraOwnEndpoints()] : metricsEndpoints;
  const proxy = new ProxyServer({
    name: opts.name,
    policy: active,
    queue,
    metrics,
    logger,
    authenticator: opts.authenticator,
    accessLog: opts.accessLog && opts.accessLog !== 'off' ? new AccessLog(opts.accessLog) : undefined,
    resolver: opts.resolver,
    maxConnections: opts.maxConnections,
    maxTunnels: opts.maxTunnels,
    proxyProtocolFrom: opts.proxyProtocolFrom?.length ? new CidrSet(opts.proxyProtocolFrom) : undefined,
    headerTimeoutMs: opts.headerTimeoutMs,
    idleTimeoutMs: opts.idleTimeoutMs,
    extraOwnEndpoints,
  });
  const proxyAddresses: AddressInfo[] = [];
  try {
    for (const l of opts.listen) proxyAddresses.push(await proxy.listen(l.host, l.port));
    if (opts.metricsListen) {
      metricsServer = new MetricsServer({
        metrics: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
        readiness: () =>
          stopping
            ? { ready: false, detail: 'not ready: shutting down' }
            : active.current
              ? { ready: true, detail: `ready: policy ${active.hash}` }
              : { ready: false, detail: 'not ready: no policy loaded yet' },
        status: () => status.status(),
      });
      const m = await metricsServer.listen(opts.metricsListen.host, opts.metricsListen.port);
      metricsEndpoints = [{ address: m.address, port: m.port }];
    }
  } catch (err) {
    watcher?.stop();
    await proxy.close(0);
    await metricsServer?.close();
    throw err;
  }
  logger.info(
    {
      listen: proxyAddresses.map((a) => `${a.address}:${a.port}`),
      metrics: metricsServer?.address()?.port,
      policy: active.hash,
      clients: servedClients(active.current),
    },
    opts.role === 'worker' ? LOG.workerStarted : LOG.slaveStarted,
  );

  return {
    active,
    queue,
    registry,
    proxy,
    proxyAddresses,
    metricsAddress: metricsServer?.address(),
    status,
    async stop(graceMs: number, drainDelayMs = 0) {
      stopping = true;
      await waitOutDrainDelay(logger, drainDelayMs);
      watcher?.stop();
      await proxy.close(graceMs);
      await opts.authenticator?.close?.();
      await metricsServer?.close();
    },
  };
}
