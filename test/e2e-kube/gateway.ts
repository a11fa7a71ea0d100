/**
 * The product as a user installs it on the real node: the images of `make images` imported into the
 * node's containerd, charts/safesquid installed with helm, and deploy/samples applied with the few
 * changes a small test node needs (placement on the real node, small volumes, a ClusterIP Service,
 * the node's address opened to the SSRF guard so slaves may reach the test's upstream servers).
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { eventually, getJson, kubectl, kubectlOk } from '../cluster/kubectl.js';
import { REAL_NODE_LABEL } from '../cluster/real-node.js';

export const ROOT = join(__dirname, '..', '..');
export const SAMPLES = join(ROOT, 'deploy', 'samples');
/** The sample SafeSquidCluster's name: children are corp-master, corp-slave, corp-proxy, corp-admin. */
export const CLUSTER = 'corp';
export const ON_REAL_NODE = { [REAL_NODE_LABEL]: 'true' };

export interface ProductImages {
  /** docker-archive of safesquid/proxy and of safesquid/operator (each tagged VERSION and VERSION-REV). */
  proxyArchive: string;
  operatorArchive: string;
  version: string;
  /** The second tag of both archives (VERSION-REV): what `helm upgrade` moves to. */
  revisionTag: string;
}

/** The archives `make images` wrote into .images/; throws naming the command when they are missing. */
export function productImages(): ProductImages {
  const find = (image: string): string => {
    const dir = join(ROOT, '.images', image);
    const tars = existsSync(dir)
      ? readdirSync(dir).filter((f) => f.startsWith(`safesquid-${image}-`) && f.endsWith('.tar'))
      : [];
    if (tars.length !== 1) {
      throw new Error(
        `expected one .images/${image}/safesquid-${image}-VERSION-REV.tar, found ${tars.length === 0 ? 'none' : tars.join(', ')}: run make images`,
      );
    }
    return join(dir, tars[0]);
  };
  const proxyArchive = find('proxy');
  const operatorArchive = find('operator');
  const m = /^safesquid-proxy-(\d+\.\d+\.\d+)-(\w+)\.tar$/.exec(proxyArchive.split('/').pop() as string);
  if (!m) throw new Error(`cannot read VERSION-REV from ${proxyArchive}`);
  if (!operatorArchive.endsWith(`safesquid-operator-${m[1]}-${m[2]}.tar`)) {
    throw new Error(
      `.images/ holds a proxy and an operator image of different builds (${proxyArchive}, ${operatorArchive}): run make images`,
    );
  }
  return { proxyArchive, operatorArchive, version: m[1], revisionTag: `${m[1]}-${m[2]}` };
}

/**
 * productImages() once `make images` (which others may be running: every commit changes REV) has
 * both archives of one build, copied into `dir` so a rebuild cannot pull them away during the import.
 */
export async function stableProductImages(dir: string, timeoutMs = 300_000): Promise<ProductImages> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const found = productImages();
      const copy = (p: string) => {
        const to = join(dir, p.split('/').pop() as string);
        copyFileSync(p, to);
        return to;
      };
      return { ...found, proxyArchive: copy(found.proxyArchive), operatorArchive: copy(found.operatorArchive) };
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 5000));
    }
  }
}

/** `helm install|upgrade` values: the local image, never pulled, one replica on the real node. */
export function chartValues(tag: string): string[] {
  return [
    '--set',
    `image.tag=${tag}`,
    '--set',
    'image.pullPolicy=Never',
    '--set',
    'replicaCount=1',
    '--set-json',
    `nodeSelector=${JSON.stringify(ON_REAL_NODE)}`,
    // Small requests: the node is this 2-core machine, shared with the control plane.
    '--set',
    'resources.requests.cpu=20m',
  ];
}

/** slaves.scaleDown.stabilizationWindowSeconds of the test cluster. */
export const SCALE_DOWN_WINDOW_SECONDS = 15;

export interface SampleOptions {
  image: string;
  nodeIp: string;
  /** Ports of the test's HTTPS upstream, opened for CONNECT beside 443. */
  connectPorts: number[];
}

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; [k: string]: unknown };
  spec?: any;
  [k: string]: unknown;
}

/** deploy/samples (the files its kustomization lists) as objects. */
export function sampleObjects(): K8sObject[] {
  const kustomization = parse(readFileSync(join(SAMPLES, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
  return kustomization.resources.map((f) => parse(readFileSync(join(SAMPLES, f), 'utf8')) as K8sObject);
}

/**
 * The samples as this node runs them. What changes and why: the image is the local build, never
 * pulled; pods go to the real node (kwok nodes run nothing); volumes are small; the proxy Service
 * is ClusterIP (no load balancer here); the slaves' SSRF guard lets them reach the node's address,
 * where the test's upstream servers listen; CONNECT is allowed to the HTTPS upstream's port; smaller
 * CPU requests so the HPA's percentages mean something on 2 cores; a short scale-down window. Everything else (the rules, the
 * users, the access restriction) is the sample's.
 */
export function adaptedSamples(o: SampleOptions): K8sObject[] {
  return sampleObjects().map((obj) => {
    const copy = structuredClone(obj);
    if (copy.kind === 'SafeSquidCluster') {
      const s = copy.spec;
      s.image = o.image;
      s.imagePullPolicy = 'Never';
      s.master = {
        ...s.master,
        storage: { size: '64Mi' },
        nodeSelector: ON_REAL_NODE,
        resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '512Mi' } },
      };
      s.slaves = {
        ...s.slaves,
        maxReplicas: 4,
        // The default 300 s window and one slave a minute would add 7 minutes; 15 s shows the same drain.
        scaleDown: { stabilizationWindowSeconds: SCALE_DOWN_WINDOW_SECONDS, podsPerMinute: 4 },
        service: { type: 'ClusterIP' },
        spool: { size: '64Mi' },
        nodeSelector: ON_REAL_NODE,
        resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
      };
    }
    if (copy.kind === 'PolicySet' && copy.spec.accessRestriction) {
      const ar = copy.spec.accessRestriction;
      ar.connectPorts = [...(ar.connectPorts ?? []), ...o.connectPorts];
      ar.ssrf = { ...ar.ssrf, allowRanges: [...(ar.ssrf?.allowRanges ?? []), `${o.nodeIp}/32`] };
    }
    return copy;
  });
}

export async function applyObjects(ns: string, objects: object[]): Promise<void> {
  await kubectlOk(['apply', '-n', ns, '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
}

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export async function clusterConditions(ns: string): Promise<Condition[]> {
  return (
    (await getJson<{ status?: { conditions?: Condition[] } }>(['safesquidcluster', '-n', ns, CLUSTER]))?.status
      ?.conditions ?? []
  );
}

export interface PodInfo {
  name: string;
  ip: string;
  ready: boolean;
  deleting: boolean;
  created: number;
  /** When the Ready condition last turned True (ms), if it is. */
  readyAt?: number;
  uid: string;
  image: string;
}

export async function pods(ns: string, selector: string): Promise<PodInfo[]> {
  const list = (await getJson<{ items: any[] }>(['pods', '-n', ns, '-l', selector]))?.items ?? [];
  return list
    .map((p) => {
      const ready = (p.status.conditions ?? []).find((c: any) => c.type === 'Ready');
      return {
        name: p.metadata.name,
        ip: p.status.podIP ?? '',
        ready: ready?.status === 'True',
        deleting: Boolean(p.metadata.deletionTimestamp),
        created: Date.parse(p.metadata.creationTimestamp),
        readyAt: ready?.status === 'True' ? Date.parse(ready.lastTransitionTime) : undefined,
        uid: p.metadata.uid,
        image: p.spec.containers[0].image,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

export const SLAVE_PODS = `app.kubernetes.io/name=safesquid,app.kubernetes.io/instance=${CLUSTER},app.kubernetes.io/component=slave`;
export const MASTER_PODS = `app.kubernetes.io/name=safesquid,app.kubernetes.io/instance=${CLUSTER},app.kubernetes.io/component=master`;

/** Exactly `count` live pods of `selector`, all Ready. */
export async function readyPods(ns: string, selector: string, count: number, timeoutMs = 120_000): Promise<PodInfo[]> {
  let last: PodInfo[] = [];
  try {
    return await eventually(
      `${count} Ready pods ${selector} in ${ns}`,
      async () => {
        last = await pods(ns, selector);
        const live = last.filter((p) => !p.deleting);
        return live.length === count && live.every((p) => p.ready) ? live : undefined;
      },
      timeoutMs,
    );
  } catch (err) {
    const events = await kubectl(['get', 'events', '-n', ns, '--sort-by=.lastTimestamp']);
    throw new Error(
      `${(err as Error).message}; pods: ${JSON.stringify(last)}\nevents:\n${events.stdout.split('\n').slice(-25).join('\n')}`,
    );
  }
}

export async function serviceIp(ns: string, name: string): Promise<string> {
  const svc = await getJson<{ spec: { clusterIP: string } }>(['service', '-n', ns, name]);
  if (!svc) throw new Error(`no Service ${ns}/${name}`);
  return svc.spec.clusterIP;
}

export async function secretValue(ns: string, name: string, key: string): Promise<string> {
  const s = await getJson<{ data: Record<string, string> }>(['secret', '-n', ns, name]);
  const v = s?.data?.[key];
  if (!v) throw new Error(`Secret ${ns}/${name} has no key ${key}`);
  return Buffer.from(v, 'base64').toString('utf8');
}

/** Figures for the issue note: printed, and merged into .run/e2e-kube/figures.json (git-ignored). */
export function recordFigures(figures: Record<string, unknown>): void {
  const dir = join(ROOT, '.run', 'e2e-kube');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'figures.json');
  const before = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  writeFileSync(file, JSON.stringify({ ...before, ...figures, updatedAt: new Date().toISOString() }, null, 2) + '\n');
  console.log(`e2e-kube figures: ${JSON.stringify(figures)}`);
}
