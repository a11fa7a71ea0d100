import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { CidrSet } from '../policy/cidr.js';
import { AdminSessions, type AdminCredentials } from './admin-sessions.js';
import { FilePolicySource } from './file-policy-source.js';
import type { PolicyCompiler } from './policy-compiler.js';
import { PolicyHub } from './policy-hub.js';
import { PolicyStore } from './policy-store.js';
import { loadCertificatePair, ServingCertificate, type CertificateFiles } from './serving-certificate.js';
import { createPortalApp } from './portal-app.js';
import type { LoginThrottleOptions } from './login-throttle.js';
import { SlaveRegistry } from './slave-registry.js';
import { SlaveRegistryFile } from './slave-registry-file.js';
import { StorePolicySource } from './store-policy-source.js';
import { MasterBackup } from '../backup/master-backup.js';
import type { ReportStore } from '../reports/store.js';
import { LOG } from '../log-messages.js';

export interface MasterOptions {
  /** '' for every interface. */
  host: string;
  port: number;
  dataDir: string;
  /** Kubernetes mode: the operator's policy, mounted as a file (read-only in the portal). */
  policyFile?: string;
  /** Kubernetes mode, in-cluster: also watch the ConfigMap through the API. */
  kubeConfigMap?: { namespace: string; name: string };
  clusterToken: string | (() => string);
  adminToken?: string | (() => string);
  admin: AdminCredentials;
  allow: readonly string[];
  /** Reverse proxies (an Ingress controller) trusted to name the client in X-Forwarded-For. */
  trustProxy?: readonly string[];
  compiler: PolicyCompiler;
  /** Standalone: the policy an empty store is seeded with. */
  defaultPolicy: { text: string; origin: string };
  /** Reports (records up): built by the caller so the portal does not depend on the store choice. */
  reports?: { router: RequestHandler; close(): Promise<void>; store?: ReportStore };
  logger: Logger;
  registry?: Registry;
  /** HTTPS with this certificate and key (renewed files are picked up live); plain HTTP without. */
  tls?: CertificateFiles;
  /** Slave registry thresholds (tests shorten them). */
  slaveStateMs?: { onlineMs?: number; staleMs?: number };
  /** Admin login throttling (tests shorten it). */
  loginThrottle?: LoginThrottleOptions;
}

export interface RunningMaster {
  url: string;
  port: number;
  hub: PolicyHub;
  slaves: SlaveRegistry;
  close(): Promise<void>;
}

interface Source {
  start(): void | Promise<void>;
  stop(): void;
}

/** Starts the Configuration Portal: policy source, store, registry, HTTP server. */
export async function startMaster(o: MasterOptions): Promise<RunningMaster> {
  const log = o.logger;
  mkdirSync(o.dataDir, { recursive: true });
  const registry = o.registry ?? new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'safesquid_portal_' });
  const allow = new CidrSet(o.allow);
  const hub = new PolicyHub();
  const store = new PolicyStore(join(o.dataDir, 'policy.db'));
  const slaves = new SlaveRegistry(o.slaveStateMs);
  // Read before anything is opened: a bad pair is a start-up error naming the files.
  const tlsPair = o.tls && loadCertificatePair(o.tls);
  const sessions = new AdminSessions(o.admin, {
    file: join(o.dataDir, 'sessions.db'),
    secureCookie: o.tls !== undefined,
  });
  const slavesFile = new SlaveRegistryFile(join(o.dataDir, 'slaves.json'), slaves, log);
  slavesFile.load();
  const sources: Source[] = [];
  let editor: StorePolicySource | undefined;
  let closing: Promise<void> | undefined;
  let readOnlyReason = '';

  try {
    if (o.policyFile || o.kubeConfigMap) {
      const where = [
        o.policyFile && `file ${o.policyFile}`,
        o.kubeConfigMap && `ConfigMap ${o.kubeConfigMap.namespace}/${o.kubeConfigMap.name}`,
      ]
        .filter(Boolean)
        .join(' and ');
      readOnlyReason = `policy is managed by Kubernetes (${where}): change the PolicySets, not the portal`;
      // The history is still worth keeping: every policy the master served, for diffs in the UI.
      hub.onChange((p) => {
        if (store.latest()?.hash !== p.hash && p.text !== undefined) {
          store.append({
            text: p.text,
            hash: p.hash,
            author: 'kubernetes',
            comment: `observed from ${p.source === 'configmap' ? `ConfigMap` : 'file'}`,
          });
        }
      });
      if (o.policyFile)
        sources.push(new FilePolicySource(o.policyFile, hub, o.compiler, log, o.kubeConfigMap ? 'configmap' : 'file'));
      if (o.kubeConfigMap) {
        const { ConfigMapPolicySource } = await import('./configmap-policy-source.js');
        sources.push(new ConfigMapPolicySource(o.kubeConfigMap.namespace, o.kubeConfigMap.name, hub, o.compiler, log));
      }
    } else {
      editor = new StorePolicySource(store, hub, o.compiler, o.defaultPolicy, log);
      sources.push(editor);
    }
    for (const s of sources) await s.start();
  } catch (err) {
    for (const s of sources) s.stop();
    sessions.close();
    store.close();
    throw err;
  }

  const app = createPortalApp({
    hub,
    compiler: o.compiler,
    store,
    editor,
    readOnlyReason,
    slaves,
    sessions,
    allow,
    trustProxy: o.trustProxy?.length ? new CidrSet(o.trustProxy) : undefined,
    clusterToken: o.clusterToken,
    adminToken: o.adminToken,
    reports: o.reports?.router,
    logger: log,
    registry,
    shuttingDown: () => closing !== undefined,
    loginThrottle: o.loginThrottle,
    backup: new MasterBackup({
      dataDir: o.dataDir,
      mode: editor ? 'standalone' : 'kubernetes',
      policyStore: store,
      slaves: slavesFile,
      reports: o.reports?.store,
      logger: log,
    }).handle,
  });
  const certificate = o.tls && new ServingCertificate(o.tls, log);
  const server: Server | TlsServer = tlsPair ? createTlsServer(tlsPair, app) : createServer(app);
  if (certificate) certificate.watch(server as TlsServer);
  // Long-polls are held up to 60 s: keep Node's own timeouts above that.
  server.requestTimeout = 120_000;
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // No host: node's own every-interface choice (:: with a fallback to 0.0.0.0 where IPv6 is off).
    server.listen(o.port, o.host || undefined, () => {
      server.off('error', reject);
      resolve();
    });
  });
  slavesFile.start();
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  const url = `${tlsPair ? 'https' : 'http'}://${host}:${port}`;
  log.info(
    { url, mode: editor ? 'standalone' : 'kubernetes', policyHash: hub.current?.hash, allow: o.allow },
    LOG.portalListening,
  );

  return {
    url,
    port,
    hub,
    slaves,
    close() {
      closing ??= (async () => {
        for (const s of sources) s.stop();
        certificate?.stop();
        hub.releaseAll();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
          // Connections still busy after a grace period (a slow report upload) are cut.
          setTimeout(() => server.closeAllConnections(), 2000).unref();
        });
        await o.reports?.close();
        slavesFile.close();
        sessions.close();
        store.close();
      })();
      return closing;
    },
  };
}
